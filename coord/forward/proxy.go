package forward

import (
	"cmp"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/proxywhirl/retrycoord/coord"
)

// DefaultAddr is the forward proxy's default listening address.
const DefaultAddr = "127.0.0.1:7948"

// Defaults of Config's timeouts.
const (
	DefaultDialTimeout    = 10 * time.Second
	DefaultConnectTimeout = 10 * time.Second
)

// Credentials are a user name and password for Basic proxy authentication.
// The zero Credentials mean none.
type Credentials struct {
	User     string
	Password string
}

// Config configures a Proxy. Only Coordinator is required.
type Config struct {
	// Coordinator chooses the upstream proxies and retries (required).
	Coordinator *coord.Coordinator
	// Base is the transport cloned for each upstream proxy by
	// Coordinator.Transport (default: keep-alives, 256 idle connections per
	// upstream, DialTimeout, no HTTP/2 to the upstreams). Its Proxy field is
	// ignored and DisableCompression is forced on, so that bodies pass
	// through unchanged. Its TLSClientConfig, when set, is also used for the
	// TLS handshake with https upstream proxies on CONNECT.
	Base *http.Transport
	// UpstreamCA, when set, is the pool of root certificates trusted for
	// https upstream proxies (and for https targets that clients ask for in
	// absolute form) in place of Base's TLSClientConfig.RootCAs (default:
	// Base's, else the system's). LoadCA makes one from a PEM file on top
	// of the system's roots, for proxies whose certificates a private CA
	// signed.
	UpstreamCA *x509.CertPool
	// ClientAuth, when User is not empty, requires clients to send
	// "Proxy-Authorization: Basic" with these credentials; others get 407.
	// The comparison takes constant time and the credentials are never
	// logged.
	ClientAuth Credentials
	// DialTimeout bounds dialing an upstream proxy (default 10s).
	DialTimeout time.Duration
	// ConnectTimeout bounds one attempt at establishing a CONNECT tunnel
	// through an upstream proxy: dial, TLS and the upstream's answer
	// (default 10s).
	ConnectTimeout time.Duration
	// Logger receives failed requests at Debug (default: discard). No
	// credentials reach it.
	Logger *slog.Logger
	// Intercept configures TLS interception of CONNECT tunnels with the
	// fleet's CA (default: none, every CONNECT is a blind tunnel).
	Intercept Interception
}

// Stats are a Proxy's counters since New.
type Stats struct {
	Requests      uint64 // requests received, CONNECT included
	Tunnels       uint64 // blind CONNECT tunnels established (intercepted ones: Intercept)
	ActiveTunnels int64  // tunnels open now
	BadRequests   uint64 // answered 400: not a proxy request, bad target, fatal error
	AuthFailures  uint64 // answered 407
	NoUpstream    uint64 // answered 503: no eligible upstream
	GaveUp        uint64 // answered 502: retries used up, or another upstream error
	Canceled      uint64 // the client went away before an answer
	// Intercept counts TLS interception (zero without Config.Intercept).
	Intercept InterceptStats
}

// Proxy is an HTTP forward proxy over a coord.Coordinator: absolute-form
// requests go through Coordinator.Transport, CONNECT tunnels are
// established through an upstream proxy with Coordinator.Do and then
// spliced. It is an http.Handler, safe for concurrent use.
type Proxy struct {
	c          *coord.Coordinator
	rt         http.RoundTripper
	base       *http.Transport
	auth       *authenticator
	dialTO     time.Duration
	connectTO  time.Duration
	logger     *slog.Logger
	closedFlag atomic.Bool

	tunnelMu sync.Mutex // guards tunnels and closed
	tunnels  map[*tunnel]struct{}
	closed   bool
	wg       sync.WaitGroup // splice goroutines

	requests, tunnelsTotal, bad, authFail, noUp, gaveUp, canceled atomic.Uint64
	active                                                        atomic.Int64

	mitm *interceptor // nil without Config.Intercept.CA
}

// New returns a Proxy, or an error when cfg has no Coordinator or a
// negative timeout.
func New(cfg Config) (*Proxy, error) {
	if cfg.Coordinator == nil {
		return nil, errors.New("forward: Config.Coordinator is required")
	}
	if cfg.DialTimeout < 0 || cfg.ConnectTimeout < 0 {
		return nil, fmt.Errorf("forward: negative timeout (DialTimeout %v, ConnectTimeout %v)", cfg.DialTimeout, cfg.ConnectTimeout)
	}
	p := &Proxy{
		c:         cfg.Coordinator,
		dialTO:    cmp.Or(cfg.DialTimeout, DefaultDialTimeout),
		connectTO: cmp.Or(cfg.ConnectTimeout, DefaultConnectTimeout),
		logger:    cmp.Or(cfg.Logger, slog.New(slog.DiscardHandler)),
		tunnels:   map[*tunnel]struct{}{},
	}
	if cfg.ClientAuth.User != "" {
		p.auth = newAuthenticator(cfg.ClientAuth)
	}
	if cfg.Base != nil {
		p.base = cfg.Base.Clone()
	} else {
		p.base = defaultTransport(p.dialTO)
	}
	p.base.Proxy = nil
	if cfg.UpstreamCA != nil {
		tc := &tls.Config{}
		if p.base.TLSClientConfig != nil {
			tc = p.base.TLSClientConfig.Clone()
		}
		tc.RootCAs = cfg.UpstreamCA
		p.base.TLSClientConfig = tc
	}
	p.base.DisableCompression = true
	p.rt = p.c.Transport(p.base)
	if cfg.Intercept.CA != nil {
		var err error
		if p.mitm, err = newInterceptor(p, cfg.Intercept); err != nil {
			return nil, err
		}
	}
	return p, nil
}

// defaultTransport is the tuned transport for upstream connections.
func defaultTransport(dial time.Duration) *http.Transport {
	d := &net.Dialer{Timeout: dial, KeepAlive: 30 * time.Second}
	return &http.Transport{
		DialContext:           d.DialContext,
		MaxIdleConns:          1024,
		MaxIdleConnsPerHost:   256,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: time.Second,
		ForceAttemptHTTP2:     false,
	}
}

// Stats returns the proxy's counters.
func (p *Proxy) Stats() Stats {
	var in InterceptStats
	if p.mitm != nil {
		in = p.mitm.stats()
	}
	return Stats{
		Intercept:     in,
		Requests:      p.requests.Load(),
		Tunnels:       p.tunnelsTotal.Load(),
		ActiveTunnels: p.active.Load(),
		BadRequests:   p.bad.Load(),
		AuthFailures:  p.authFail.Load(),
		NoUpstream:    p.noUp.Load(),
		GaveUp:        p.gaveUp.Load(),
		Canceled:      p.canceled.Load(),
	}
}

// ServeHTTP implements http.Handler: CONNECT requests are tunnelled,
// absolute-form requests forwarded, and anything else answered 400.
func (p *Proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p.requests.Add(1)
	if p.closedFlag.Load() {
		plain(w, http.StatusServiceUnavailable, "retrycoord: the forward proxy is shutting down")
		return
	}
	isConnect := r.Method == http.MethodConnect
	if !isConnect && (r.URL.Host == "" || !r.URL.IsAbs()) {
		p.bad.Add(1)
		plain(w, http.StatusBadRequest, "retrycoord: this is a forward proxy; send absolute-form requests "+
			"(GET http://host/path) or CONNECT host:port, e.g. with HTTP_PROXY / HTTPS_PROXY set to this address")
		return
	}
	if p.auth != nil && !p.auth.ok(r.Header.Get("Proxy-Authorization")) {
		p.authFail.Add(1)
		w.Header().Set("Proxy-Authenticate", `Basic realm="retrycoord"`)
		plain(w, http.StatusProxyAuthRequired, "retrycoord: proxy authentication required")
		return
	}
	if isConnect {
		p.connect(w, r)
		return
	}
	p.forward(w, r)
}

// Close closes every open tunnel and waits for their goroutines, closes
// idle upstream connections, and makes the proxy answer 503 from then on.
// It does not stop the http.Server serving the proxy. It is idempotent and
// always returns nil.
func (p *Proxy) Close() error {
	p.closedFlag.Store(true)
	p.tunnelMu.Lock()
	p.closed = true
	for t := range p.tunnels {
		t.close()
	}
	p.tunnelMu.Unlock()
	p.wg.Wait()
	if p.mitm != nil {
		p.mitm.close()
	}
	if ci, ok := p.rt.(interface{ CloseIdleConnections() }); ok {
		ci.CloseIdleConnections()
	}
	return nil
}

// Serve serves the proxy on ln until ctx ends, then shuts the server down
// (waiting up to 5s for requests in flight) and returns nil; it returns the
// server's error if serving fails first. Tunnels outlive the server: Close
// the Proxy to end them.
func (p *Proxy) Serve(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{
		Handler:           p,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       90 * time.Second,
		ErrorLog:          slog.NewLogLogger(p.logger.Handler(), slog.LevelDebug),
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("forward: serve: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		_ = srv.Close()
	}
	<-errc // http.ErrServerClosed
	return nil
}

// ListenAndServe listens on addr (DefaultAddr when empty) and calls Serve.
func (p *Proxy) ListenAndServe(ctx context.Context, addr string) error {
	ln, err := net.Listen("tcp", cmp.Or(addr, DefaultAddr))
	if err != nil {
		return fmt.Errorf("forward: %w", err)
	}
	return p.Serve(ctx, ln)
}
