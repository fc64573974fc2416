package main

import (
	"cmp"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/proxywhirl/retrycoord/cluster"
	"github.com/proxywhirl/retrycoord/coord"
	"github.com/proxywhirl/retrycoord/coord/api"
	"github.com/proxywhirl/retrycoord/coord/forward"
	"github.com/proxywhirl/retrycoord/policy"
	"github.com/proxywhirl/retrycoord/state"
	"github.com/proxywhirl/retrycoord/state/redisledger"
	"github.com/redis/go-redis/v9"
	"github.com/spf13/cobra"
)

func newAgentCommand(logOpts *logOptions) *cobra.Command {
	var s agentSettings
	cmd := &cobra.Command{
		Use:   "agent",
		Short: "Run a retrycoord node: cluster member, admin API, metrics and forward proxy",
		Long: `agent runs one retrycoord node. It joins the cluster over gossip (port 7946),
serves the admin API and Prometheus metrics (7947) and an HTTP forward proxy (7948)
that scrapers in any language can use as HTTP_PROXY.

Every setting is a flag, a RETRYCOORD_* environment variable (--api-token is
RETRYCOORD_API_TOKEN) and a key of the YAML file given by --config, in that order
of precedence. With --dev it is one node on loopback with an open API.

The first SIGINT or SIGTERM leaves the cluster and flushes the ledger within
--shutdown-timeout; a second one exits at once.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := applyConfig(cmd.Flags(), "config", os.LookupEnv); err != nil {
				return err
			}
			if err := s.finish(cmd.Flags()); err != nil {
				return err
			}
			logger, err := logOpts.logger(cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			return runAgent(cmd.Context(), &s, logger)
		},
	}
	s.register(cmd.Flags())
	return cmd
}

// runAgent starts an agent and runs it until the first signal, then shuts
// it down gracefully; a second signal exits at once.
func runAgent(ctx context.Context, s *agentSettings, logger *slog.Logger) error {
	signals := make(chan os.Signal, 2)
	signal.Notify(signals, syscall.SIGINT, syscall.SIGTERM)
	defer signal.Stop(signals)

	a, err := startAgent(ctx, s, logger)
	if err != nil {
		return err
	}
	select {
	case sig := <-signals:
		logger.Info("shutting down", "signal", sig.String(), "timeout", s.shutdownTimeout.String())
	case <-ctx.Done():
	}
	go func() {
		if sig, ok := <-signals; ok {
			logger.Warn("second signal: exiting now", "signal", sig.String())
			os.Exit(1)
		}
	}()
	sctx, cancel := context.WithTimeout(context.Background(), s.shutdownTimeout)
	defer cancel()
	return a.Shutdown(sctx)
}

// agent is one running node: its table, cluster membership, optional
// ledger, coordinator and HTTP servers.
type agent struct {
	settings *agentSettings
	logger   *slog.Logger

	table  *state.Table
	node   *cluster.Node
	ledger *redisledger.Ledger // nil without --redis-url
	coord  *coord.Coordinator

	forward *forward.Proxy // nil without --proxy-addr
	api     *api.Handler
	servers []*http.Server
	apiAddr string // where the admin API listens (resolved port)
	fwdAddr string // where the forward proxy listens ("" when off)

	readiness atomic.Pointer[api.Readiness] // nil until sync sets it: waiting for the first sync
	started   bool                          // startAgent finished: Shutdown logs "agent stopped"
	cancel    context.CancelFunc
	wg        sync.WaitGroup
	closeOnce sync.Once
	closeErr  error
}

// startAgent builds every part in dependency order and starts serving. On
// error, whatever was started is stopped again.
func startAgent(ctx context.Context, s *agentSettings, logger *slog.Logger) (_ *agent, err error) {
	a := &agent{settings: s, logger: logger}
	ctx, a.cancel = context.WithCancel(context.WithoutCancel(ctx))
	defer func() {
		if err != nil {
			_ = a.Shutdown(context.Background())
		}
	}()

	doc, err := loadPolicy(s.policyFile)
	if err != nil {
		return nil, err
	}
	pool, err := loadPool(s.poolFile)
	if err != nil {
		return nil, err
	}
	a.table, err = state.NewTable(state.Config{Node: s.nodeName, Policy: doc.Breaker, Logger: logger})
	if err != nil {
		return nil, fmt.Errorf("--policy-file: %w", err)
	}

	if err := a.startCluster(); err != nil {
		return nil, err
	}
	if s.redisURL != "" {
		redis.SetLogger(redisledger.RedisLogger{Logger: logger})
		a.ledger, err = redisledger.New(redisledger.Config{URL: s.redisURL, Table: a.table, Logger: logger})
		if err != nil {
			return nil, fmt.Errorf("--redis-url: %w", err)
		}
	}

	// The node and the ledger subscribe to the table themselves: the
	// coordinator only works on it.
	a.coord, err = coord.New(coord.Config{Table: a.table, Document: doc, Pool: pool, Logger: logger})
	if err != nil {
		return nil, fmt.Errorf("--pool-file: %w", err)
	}
	a.goRun("coordinator", a.coord.Run, ctx)

	if err := a.startServers(); err != nil {
		return nil, err
	}
	a.wg.Add(1)
	go a.sync(ctx)

	for _, w := range a.warnings() {
		logger.Warn(w)
	}
	a.started = true
	scheme := "http"
	if s.apiTLS != nil {
		scheme = "https"
	}
	logger.Info("agent started", "node", s.nodeName, "gossip", a.node.Addr(), "api", a.apiAddr,
		"ui", scheme+"://"+a.apiAddr+"/ui/", "api_tls", s.apiTLS != nil, "proxy", a.fwdAddr, "upstreams", len(a.coord.Upstreams()), "ledger", a.ledger != nil, "dev", s.dev)
	return a, nil
}

// warnings are what start-up tells the operator about a risky setup.
func (a *agent) warnings() []string {
	s := a.settings
	if s.dev {
		return nil
	}
	var ws []string
	if len(s.encrypt) == 0 {
		ws = append(ws, "gossip is NOT encrypted: anyone who can reach the gossip port can join and steer breakers; set --encrypt")
	}
	if s.apiToken == "" {
		ws = append(ws, "admin API writes are refused: no --api-token is set")
	} else if s.apiTLS == nil && !isLoopback(a.apiAddr) {
		ws = append(ws, "the admin API listens on "+a.apiAddr+", beyond loopback, without TLS: the API token travels in clear; set --tls-cert and --tls-key")
	}
	if a.fwdAddr != "" && s.proxyAuth == "" && !isLoopback(a.fwdAddr) {
		ws = append(ws, "the forward proxy on "+a.fwdAddr+" is open (--proxy-open): anyone who reaches it can use the pool")
	}
	return ws
}

// startCluster starts the cluster node on the gossip address; sync joins
// the seeds.
func (a *agent) startCluster() error {
	s := a.settings
	host, portStr, _ := net.SplitHostPort(s.gossipBind)
	port, _ := strconv.Atoi(portStr)
	cfg := cluster.Config{
		Table:            a.table,
		BindAddr:         host,
		BindPort:         port,
		Seeds:            s.join,
		Keys:             s.encrypt,
		Label:            s.label,
		PushPullInterval: s.pushPull,
		RejoinInterval:   s.rejoin,
		Logger:           a.logger,
	}
	if s.gossipAdvertise != "" {
		ahost, aport, _ := net.SplitHostPort(s.gossipAdvertise)
		cfg.AdvertiseAddr = ahost
		cfg.AdvertisePort, _ = strconv.Atoi(aport)
	}
	node, err := cluster.New(cfg)
	if err != nil {
		return fmt.Errorf("gossip (--gossip-bind, --label): %w", err)
	}
	a.node = node
	// Start binds the gossip port (New binds nothing).
	err = node.Start()
	if addrInUse(err) {
		return fmt.Errorf("--gossip-bind %s: address in use: is another agent running?", s.gossipBind)
	}
	if err != nil {
		return fmt.Errorf("gossip (--gossip-bind): %w", err)
	}
	return nil
}

// goRun runs fn in a goroutine the agent waits for on shutdown.
func (a *agent) goRun(name string, fn func(context.Context) error, ctx context.Context) {
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		if err := fn(ctx); err != nil && !errors.Is(err, context.Canceled) {
			a.logger.Error(name+" stopped", "err", err)
		}
	}()
}

// sync brings the node up to the fleet's state: it loads the ledger's
// snapshot, joins the seeds and waits for the first push/pull, bounded by
// --ready-timeout, then marks the agent ready (degraded when something did
// not answer in time) and keeps the ledger running. A node with seeds that
// has never exchanged state with anyone is not ready at all (it would serve
// a fleet of one), unless --bootstrap says it may start the fleet alone: it
// stays not ready and degraded until a seed answers.
func (a *agent) sync(ctx context.Context) {
	defer a.wg.Done()
	s := a.settings
	deadline, cancel := context.WithTimeout(ctx, s.readyTimeout)
	defer cancel()
	degraded := false
	needFleet := len(s.join) > 0 && !s.bootstrap
	if a.ledger != nil {
		if n, err := a.ledger.Snapshot(deadline); err != nil {
			degraded = true
			a.logger.Warn("ledger snapshot failed; starting without it", "err", err)
		} else {
			a.logger.Info("ledger snapshot loaded", "records", n)
		}
		a.goRun("ledger", a.ledger.Run, ctx)
	}
	if len(s.join) > 0 {
		if _, err := a.node.Join(deadline, nil); err != nil {
			// Degraded only if no one exchanges state with us in time either.
			a.logger.Warn("no seed answered yet; the node keeps re-joining", "seeds", s.join, "err", err)
		}
	}
	select {
	case <-a.node.Ready():
	case <-deadline.Done():
		if ctx.Err() != nil {
			return
		}
		if !needFleet {
			degraded = true
			a.logger.Warn("no first sync with the fleet within --ready-timeout; serving degraded", "timeout", s.readyTimeout.String())
			break
		}
		reason := fmt.Sprintf("not ready: never joined any seed of --join (%s); still trying (--bootstrap starts a new fleet alone)", strings.Join(s.join, ","))
		a.readiness.Store(&api.Readiness{Degraded: true, Reason: reason})
		a.logger.Warn("no seed answered within --ready-timeout; not ready until one does (--bootstrap starts a new fleet alone)",
			"seeds", s.join, "timeout", s.readyTimeout.String())
		select {
		case <-a.node.Ready():
		case <-ctx.Done():
			return
		}
	}
	a.readiness.Store(&api.Readiness{Ready: true, Degraded: degraded})
	a.logger.Info("agent ready", "node", s.nodeName, "members", len(a.node.Members()), "degraded", degraded)
}

// Ready reports whether the node serves: it has synced with the fleet, or
// given up waiting for what it may do without. Safe for concurrent use.
func (a *agent) Ready() api.Readiness {
	if r := a.readiness.Load(); r != nil {
		return *r
	}
	return api.Readiness{Reason: "not ready: waiting for the first sync with the fleet"}
}

// Shutdown stops serving, leaves the cluster, flushes the ledger and stops
// every goroutine, within ctx. It is idempotent.
func (a *agent) Shutdown(ctx context.Context) error {
	a.closeOnce.Do(func() {
		var errs []error
		if a.api != nil {
			errs = append(errs, a.api.Close()) // ends event streams, which never go idle
		}
		for _, srv := range a.servers {
			if err := srv.Shutdown(ctx); err != nil {
				errs = append(errs, err)
				_ = srv.Close()
			}
		}
		if a.forward != nil {
			errs = append(errs, a.forward.Close()) // ends CONNECT tunnels, which the server does not track
		}
		if a.node != nil {
			if err := a.node.Leave(ctx); err != nil && !errors.Is(err, cluster.ErrClosed) {
				a.logger.Warn("leaving the cluster", "err", err)
			}
		}
		if a.coord != nil {
			errs = append(errs, a.coord.Close())
		}
		if a.ledger != nil {
			errs = append(errs, a.ledger.Close())
		}
		if a.cancel != nil {
			a.cancel()
		}
		if a.node != nil {
			errs = append(errs, a.node.Close())
		}
		a.wg.Wait()
		a.closeErr = errors.Join(errs...)
		if a.started {
			a.logger.Info("agent stopped", "node", a.settings.nodeName)
		}
	})
	return a.closeErr
}

// loadPolicy reads the policy document, JSON or YAML, or returns the
// defaults when there is no file.
func loadPolicy(path string) (policy.Document, error) {
	if path == "" {
		return policy.Document{}, nil
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return policy.Document{}, fmt.Errorf("--policy-file: %w", err)
	}
	doc, err := policy.ParseDocument(data)
	if err != nil {
		var yerr error
		if doc, yerr = policy.ParseDocumentYAML(data); yerr != nil {
			return policy.Document{}, fmt.Errorf("--policy-file %s: %s", path, suggestField(yerr.Error()))
		}
	}
	return doc, nil
}

// loadPool reads the pool file, or returns an empty pool.
func loadPool(path string) ([]coord.PoolEntry, error) {
	if path == "" {
		return nil, nil
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("--pool-file: %w", err)
	}
	defer f.Close()
	lines, err := parsePoolFile(f)
	if err != nil {
		return nil, fmt.Errorf("--pool-file %s: %w", path, err)
	}
	out := make([]coord.PoolEntry, len(lines))
	for i, l := range lines {
		out[i] = coord.PoolEntry{URL: l.URL, Meta: l.Meta}
	}
	return out, nil
}

// listen opens a listener, naming the flag on error.
func listen(flag, addr string) (net.Listener, error) {
	ln, err := net.Listen("tcp", addr)
	if addrInUse(err) {
		return nil, fmt.Errorf("--%s %s: address in use: is another agent running?", flag, addr)
	}
	if err != nil {
		return nil, fmt.Errorf("--%s: %w", flag, err)
	}
	return ln, nil
}

// addrInUse reports whether err is a bind failing on an address in use.
// memberlist formats its listener errors with %v, so the text is checked too.
func addrInUse(err error) bool {
	return err != nil && (errors.Is(err, syscall.EADDRINUSE) || strings.Contains(err.Error(), "address already in use"))
}

// serve runs an HTTP server on ln until Shutdown.
func (a *agent) serve(name string, ln net.Listener, h http.Handler) {
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, ErrorLog: slog.NewLogLogger(a.logger.Handler(), slog.LevelDebug)}
	a.servers = append(a.servers, srv)
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			a.logger.Error(name+" server stopped", "err", err)
		}
	}()
}

// startServers listens on the API and forward-proxy addresses and serves.
func (a *agent) startServers() error {
	s := a.settings
	if s.proxyAddr != "" {
		cfg := forward.Config{Coordinator: a.coord, Logger: a.logger, UpstreamCA: s.upstreamRoots}
		if s.mitmCA != nil {
			cfg.Intercept = forward.Interception{CA: s.mitmCA, Hosts: s.mitmHosts, NoHosts: s.noMitmHosts,
				Roots: s.mitmRootPool, AllowIPTargets: s.mitmIPTargets}
			a.logger.Info("forward proxy: TLS interception on", "ca_sha256", s.mitmCA.Fingerprint(),
				"hosts", cmp.Or(strings.Join(s.mitmHosts, ","), "all"), "no_hosts", strings.Join(s.noMitmHosts, ","))
		}
		if s.proxyAuth != "" {
			user, pass, _ := strings.Cut(s.proxyAuth, ":")
			cfg.ClientAuth = forward.Credentials{User: user, Password: pass}
		}
		fwd, err := forward.New(cfg)
		if err != nil {
			return fmt.Errorf("forward proxy: %w", err)
		}
		a.forward = fwd
		ln, err := listen("proxy-addr", s.proxyAddr)
		if err != nil {
			return err
		}
		a.fwdAddr = ln.Addr().String()
		a.serve("forward proxy", ln, fwd)
	}

	stats := []api.StatsSource{clusterStats{a.node}}
	if a.ledger != nil {
		stats = append(stats, ledgerStats{a.ledger})
	}
	if a.forward != nil {
		stats = append(stats, forwardStats{a.forward})
	}
	h, err := api.NewHandler(api.Config{
		Coordinator: a.coord,
		Members:     clusterMembers(a.node),
		Ready:       a.Ready,
		Token:       s.apiToken,
		Dev:         s.dev,
		Keyring:     clusterKeyring{a.node},
		Stats:       stats,
		ProbeOwner:  a.node.ProbeOwner,
		Logger:      a.logger,
		Version:     version,
		MITMCA:      mitmFingerprint(s.mitmCA),
	})
	if err != nil {
		return fmt.Errorf("admin API: %w", err)
	}
	a.api = h
	ln, err := listen("api-addr", s.apiAddr)
	if err != nil {
		return err
	}
	a.apiAddr = ln.Addr().String()
	if s.apiTLS != nil {
		ln = tls.NewListener(ln, s.apiTLS)
	}
	a.serve("admin API", ln, h)
	return nil
}

// mitmFingerprint is the CA's fingerprint for the API, or "" without one.
func mitmFingerprint(ca *forward.CA) string {
	if ca == nil {
		return ""
	}
	return ca.Fingerprint()
}
