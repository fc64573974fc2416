package main

import (
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/proxywhirl/retrycoord/coord/forward"
	"github.com/spf13/pflag"
)

// Default ports: gossip, admin API, forward proxy.
const (
	defaultGossipPort = 7946
	defaultAPIPort    = 7947
	defaultProxyPort  = 7948
)

// agentSettings is everything `retrycoord agent` can be told, each as a flag,
// a RETRYCOORD_* environment variable and a key of the YAML config file.
type agentSettings struct {
	config          string
	dev             bool
	bootstrap       bool
	nodeName        string
	gossipBind      string
	gossipAdvertise string
	join            []string
	encrypt         []string
	label           string
	apiAddr         string
	apiToken        string
	tlsCert         string
	tlsKey          string
	apiTLS          *tls.Config // from tlsCert and tlsKey (tls.go); nil: plain HTTP
	proxyAddr       string
	proxyAuth       string
	upstreamCA      string
	upstreamRoots   *x509.CertPool // from upstreamCA; nil: the system's
	proxyOpen       bool
	mitmCACert      string
	mitmCAKey       string
	mitmCA          *forward.CA // from mitmCACert and mitmCAKey; nil: no interception
	mitmHosts       []string
	noMitmHosts     []string
	mitmRoots       string
	mitmRootPool    *x509.CertPool // from mitmRoots; nil: the system's
	mitmIPTargets   bool
	poolFile        string
	policyFile      string
	redisURL        string
	pushPull        time.Duration
	rejoin          time.Duration
	readyTimeout    time.Duration
	shutdownTimeout time.Duration
}

func (s *agentSettings) register(fs *pflag.FlagSet) {
	fs.StringVar(&s.config, "config", "", "YAML config file; its keys are these flags' names")
	fs.BoolVar(&s.dev, "dev", false, "development mode: one node on loopback, in-memory, open API")
	fs.StringVar(&s.nodeName, "node-name", "", "unique member name (default: hostname plus a random suffix)")
	fs.StringVar(&s.gossipBind, "gossip-bind", net.JoinHostPort("0.0.0.0", strconv.Itoa(defaultGossipPort)), "gossip address, UDP and TCP (with --dev: 127.0.0.1:7946)")
	fs.StringVar(&s.gossipAdvertise, "gossip-advertise", "", "gossip address other nodes dial (default: the bound one)")
	fs.StringSliceVar(&s.join, "join", nil, "seed nodes to join, host:port, comma-separated; not ready until one answers")
	fs.BoolVar(&s.bootstrap, "bootstrap", false, "this node may start a new fleet alone: ready without any seed answering")
	fs.StringSliceVar(&s.encrypt, "encrypt", nil, "gossip encryption keys, base64 of 16, 24 or 32 bytes; the first encrypts")
	fs.StringVar(&s.label, "label", "", "cluster label: nodes with other labels never merge")
	fs.StringVar(&s.apiAddr, "api-addr", net.JoinHostPort("127.0.0.1", strconv.Itoa(defaultAPIPort)), "admin API and metrics address")
	fs.StringVar(&s.apiToken, "api-token", "", "bearer token the admin API's writes require")
	fs.StringVar(&s.tlsCert, "tls-cert", "", "PEM certificate (chain) for serving the admin API over HTTPS; needs --tls-key")
	fs.StringVar(&s.tlsKey, "tls-key", "", "PEM private key of --tls-cert")
	fs.StringVar(&s.proxyAddr, "proxy-addr", net.JoinHostPort("127.0.0.1", strconv.Itoa(defaultProxyPort)), "forward proxy address (empty: no forward proxy)")
	fs.StringVar(&s.proxyAuth, "proxy-auth", "", "user:password clients must give the forward proxy (default: none)")
	fs.StringVar(&s.upstreamCA, "upstream-ca", "", "PEM file of the CA that signed https upstream proxies' certificates (trusted besides the system's roots)")
	fs.StringVar(&s.mitmCACert, "mitm-ca-cert", "", "the fleet CA's certificate (retrycoord ca init): intercept CONNECT to see HTTPS answers; needs --mitm-ca-key")
	fs.StringVar(&s.mitmCAKey, "mitm-ca-key", "", "the fleet CA's private key (PEM, mode 0600), the same file on every node")
	fs.StringSliceVar(&s.mitmHosts, "mitm-hosts", nil, "hosts to intercept, comma-separated; example.com covers its subdomains (default: all)")
	fs.StringSliceVar(&s.noMitmHosts, "no-mitm-hosts", nil, "hosts never intercepted (clients that pin certificates, WebSockets); wins over --mitm-hosts")
	fs.StringVar(&s.mitmRoots, "mitm-roots", "", "PEM file of roots trusted for intercepted origins besides the system's (private origins, tests)")
	fs.BoolVar(&s.mitmIPTargets, "mitm-ip-targets", false, "also intercept CONNECT to IP addresses (default: blind tunnels)")
	fs.BoolVar(&s.proxyOpen, "proxy-open", false, "let a forward proxy beyond loopback run without --proxy-auth (an open proxy, on purpose)")
	fs.StringVar(&s.poolFile, "pool-file", "", "pool file: one proxy URL a line, key=value metadata, # comments")
	fs.StringVar(&s.policyFile, "policy-file", "", "policy document, JSON or YAML (default: the built-in defaults)")
	fs.StringVar(&s.redisURL, "redis-url", "", "Redis ledger URL: redis://, rediss://, redis+cluster://, redis+sentinel:// (default: none)")
	fs.DurationVar(&s.pushPull, "push-pull-interval", 10*time.Second, "anti-entropy interval")
	fs.DurationVar(&s.rejoin, "rejoin-interval", time.Second, "how often the seeds and lost members are joined again while not alive members")
	fs.DurationVar(&s.readyTimeout, "ready-timeout", 10*time.Second, "how long start-up waits for the first sync before serving degraded")
	fs.DurationVar(&s.shutdownTimeout, "shutdown-timeout", 10*time.Second, "how long the first signal's graceful shutdown may take")
}

// finish fills the defaults that depend on other settings and checks every
// setting, naming the flag of any that is wrong.
func (s *agentSettings) finish(fs *pflag.FlagSet) error {
	if s.dev && !fs.Changed("gossip-bind") {
		s.gossipBind = net.JoinHostPort("127.0.0.1", strconv.Itoa(defaultGossipPort))
	}
	if s.nodeName == "" {
		host, err := os.Hostname()
		if err != nil || host == "" {
			host = "retrycoord"
		}
		var b [3]byte
		_, _ = rand.Read(b[:])
		s.nodeName = host + "-" + hex.EncodeToString(b[:])
	}
	var errs []error
	bad := func(flag, format string, args ...any) {
		errs = append(errs, fmt.Errorf("--%s: "+format, append([]any{flag}, args...)...))
	}
	checkAddr := func(flag, addr string, optional bool) {
		if addr == "" && optional {
			return
		}
		if _, err := splitHostPort(addr); err != nil {
			bad(flag, "%v", err)
		}
	}
	checkAddr("gossip-bind", s.gossipBind, false)
	checkAddr("gossip-advertise", s.gossipAdvertise, true)
	checkAddr("api-addr", s.apiAddr, false)
	checkAddr("proxy-addr", s.proxyAddr, true)
	for _, j := range s.join {
		if _, err := splitHostPort(j); err != nil {
			bad("join", "%v", err)
		}
	}
	if strings.ContainsAny(s.nodeName, " \t\n") {
		bad("node-name", "%q must not contain white space", s.nodeName)
	}
	if s.proxyAuth != "" {
		if user, pass, ok := strings.Cut(s.proxyAuth, ":"); !ok || user == "" || pass == "" {
			bad("proxy-auth", "want user:password")
		}
	}
	if s.proxyAddr != "" && s.proxyAuth == "" && !s.proxyOpen && !isLoopback(s.proxyAddr) {
		bad("proxy-addr", "%s is beyond loopback and --proxy-auth is not set: anyone who reaches it could use the pool; "+
			"set --proxy-auth user:password, or --proxy-open to run an open proxy on purpose", s.proxyAddr)
	}
	for i, k := range s.encrypt {
		if raw, err := base64.StdEncoding.DecodeString(k); err != nil || !validKeyLen(len(raw)) {
			bad("encrypt", "key %d is not the base64 of 16, 24 or 32 bytes; make one with: head -c 32 /dev/urandom | base64", i+1)
		}
	}
	for name, d := range map[string]time.Duration{
		"push-pull-interval": s.pushPull, "rejoin-interval": s.rejoin,
		"ready-timeout": s.readyTimeout, "shutdown-timeout": s.shutdownTimeout,
	} {
		if d <= 0 {
			bad(name, "%v: want a positive duration", d)
		}
	}
	if err := s.loadTLS(); err != nil {
		errs = append(errs, err)
	}
	if s.upstreamCA != "" {
		pool, err := forward.LoadCA(s.upstreamCA)
		if err != nil {
			bad("upstream-ca", "%s", strings.TrimPrefix(err.Error(), "forward: upstream CA: "))
		}
		s.upstreamRoots = pool
	}
	if err := s.loadMITM(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// loadMITM loads the interception settings: the CA (both files or
// neither), the host patterns and the origin roots. Its errors name the
// flag and never contain the key's bytes.
func (s *agentSettings) loadMITM() error {
	var errs []error
	switch {
	case s.mitmCACert == "" && s.mitmCAKey == "":
		s.mitmCA = nil
		for flag, set := range map[string]bool{"mitm-hosts": len(s.mitmHosts) > 0, "no-mitm-hosts": len(s.noMitmHosts) > 0,
			"mitm-roots": s.mitmRoots != "", "mitm-ip-targets": s.mitmIPTargets} {
			if set {
				errs = append(errs, fmt.Errorf("--%s: needs --mitm-ca-cert and --mitm-ca-key (interception is off)", flag))
			}
		}
		return errors.Join(errs...)
	case s.mitmCACert == "":
		return errors.New("--mitm-ca-key: needs --mitm-ca-cert")
	case s.mitmCAKey == "":
		return errors.New("--mitm-ca-cert: needs --mitm-ca-key")
	}
	ca, err := forward.LoadInterceptCA(s.mitmCACert, s.mitmCAKey)
	if err != nil {
		errs = append(errs, fmt.Errorf("--mitm-ca-cert/--mitm-ca-key: %s", strings.TrimPrefix(err.Error(), "forward: ")))
	}
	s.mitmCA = ca
	if err := forward.CheckHostPatterns(s.mitmHosts); err != nil {
		errs = append(errs, fmt.Errorf("--mitm-hosts: %w", err))
	}
	if err := forward.CheckHostPatterns(s.noMitmHosts); err != nil {
		errs = append(errs, fmt.Errorf("--no-mitm-hosts: %w", err))
	}
	if s.mitmRoots != "" {
		pool, err := forward.LoadRoots(s.mitmRoots)
		if err != nil {
			errs = append(errs, fmt.Errorf("--mitm-roots: %s", strings.TrimPrefix(err.Error(), "forward: origin roots: ")))
		}
		s.mitmRootPool = pool
	}
	return errors.Join(errs...)
}

// validKeyLen reports whether n bytes make an AES key for gossip.
func validKeyLen(n int) bool { return n == 16 || n == 24 || n == 32 }

// isLoopback reports whether addr ("host:port") listens on loopback only:
// localhost or a loopback IP. An empty host, a wildcard or any other name
// is beyond loopback.
func isLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// splitHostPort checks "host:port" and returns the port.
func splitHostPort(addr string) (int, error) {
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		return 0, fmt.Errorf("%q: want host:port", addr)
	}
	port, err := strconv.Atoi(p)
	if err != nil || port < 0 || port > 65535 {
		return 0, fmt.Errorf("%q: port must be 0–65535", addr)
	}
	return port, nil
}
