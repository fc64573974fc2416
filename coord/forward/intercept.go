package forward

import (
	"cmp"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// DefaultHandshakeTimeout bounds the TLS handshake with an intercepted
// client.
const DefaultHandshakeTimeout = 10 * time.Second

// Interception configures TLS interception of CONNECT tunnels, opt-in:
// with a CA, a CONNECT to a host it covers is answered 200 by the proxy
// itself, the client's TLS is terminated with a leaf certificate for the
// host it asked for, and every request on that connection goes through the
// coordinator like an absolute-form https:// request, so that retries,
// failover, classification and the breakers see HTTPS answers. The zero
// Interception intercepts nothing: every CONNECT is a blind tunnel.
type Interception struct {
	// CA signs the leaf certificates (nil: no interception). Clients must
	// trust its certificate.
	CA *CA
	// Hosts are the targets intercepted (default: all). An entry matches
	// the host itself and its subdomains ("example.com" covers
	// a.example.com; a leading "*." or "." means the same); "*" matches
	// every host; an IP literal matches itself.
	Hosts []string
	// NoHosts are never intercepted, in the same syntax (it wins over
	// Hosts): clients that pin certificates, WebSockets.
	NoHosts []string
	// AllowIPTargets lets IP-literal targets (CONNECT 192.0.2.1:443) be
	// intercepted; by default they are blind tunnels, since a client that
	// connects to an address rarely checks a certificate for it.
	AllowIPTargets bool
	// Roots are the roots origins' certificates are verified against, the
	// TLS to the origin being made through the upstream proxy (default:
	// the system's). LoadRoots adds a PEM file to the system's.
	Roots *x509.CertPool
	// LeafValidity is how long a leaf certificate is valid, never past the
	// CA (default 24h); a leaf is reissued after half of it.
	LeafValidity time.Duration
	// MaxLeaves bounds the cache of leaf certificates, least recently used
	// out first (default 1024).
	MaxLeaves int
	// HandshakeTimeout bounds the TLS handshake with the client (default
	// 10s).
	HandshakeTimeout time.Duration
}

// InterceptStats are the counters of TLS interception since New.
type InterceptStats struct {
	Connections  uint64 // client connections intercepted (handshake done)
	Requests     uint64 // requests served on intercepted connections
	LeavesIssued uint64 // leaf certificates signed
	Leaves       int    // leaf certificates cached now
	// HandshakeFailures counts failed TLS handshakes with clients by
	// cause: "untrusted" (the client refused our certificate: it does not
	// trust the CA; a TLS alert, or the undecryptable alert of an OpenSSL
	// client), "sni_mismatch" (SNI other than the CONNECT host),
	// "not_tls", "alpn" (no HTTP/1.1), "timeout", "closed", "leaf"
	// (issuing failed), "other".
	HandshakeFailures map[string]uint64
	// OriginCert counts origins' certificates that did not verify through
	// an upstream, by verdict: "proxy" (the host verified through another
	// proxy: this one presented a wrong certificate), "site" (the same bad
	// certificate through several proxies), "unknown" (not yet known;
	// retried elsewhere, counted against no proxy until it is).
	OriginCert map[string]uint64
}

// Handshake failure causes, in InterceptStats.HandshakeFailures.
const (
	causeUntrusted = iota
	causeSNIMismatch
	causeNotTLS
	causeALPN
	causeTimeout
	causeClosed
	causeLeaf
	causeOther
	causeCount
)

var causeNames = [causeCount]string{"untrusted", "sni_mismatch", "not_tls", "alpn", "timeout", "closed", "leaf", "other"}

// interceptor is the interception side of a Proxy: the leaf cache, the
// server of intercepted connections and the transport of their requests.
type interceptor struct {
	cfg    Interception
	hosts  hostMatcher
	no     hostMatcher
	leaves *leafCache
	rt     *mitmTransport

	startOnce sync.Once
	srv       *http.Server
	ln        *connListener
	serveDone chan struct{}

	pendMu   sync.Mutex // guards pending, closed and the Add side of handlers
	pending  map[net.Conn]struct{}
	closed   bool
	handlers sync.WaitGroup // serveIntercepted calls

	conns, requests atomic.Uint64
	causes          [causeCount]atomic.Uint64
}

func newInterceptor(p *Proxy, cfg Interception) (*interceptor, error) {
	cfg.LeafValidity = cmp.Or(cfg.LeafValidity, DefaultLeafValidity)
	cfg.MaxLeaves = cmp.Or(cfg.MaxLeaves, DefaultMaxLeaves)
	cfg.HandshakeTimeout = cmp.Or(cfg.HandshakeTimeout, DefaultHandshakeTimeout)
	if cfg.LeafValidity < 0 || cfg.MaxLeaves < 0 || cfg.HandshakeTimeout < 0 {
		return nil, errors.New("forward: Interception: negative LeafValidity, MaxLeaves or HandshakeTimeout")
	}
	hosts, err := parseHostPatterns(cfg.Hosts)
	if err != nil {
		return nil, fmt.Errorf("forward: Interception.Hosts: %w", err)
	}
	no, err := parseHostPatterns(cfg.NoHosts)
	if err != nil {
		return nil, fmt.Errorf("forward: Interception.NoHosts: %w", err)
	}
	if len(cfg.Hosts) == 0 {
		hosts = hostMatcher{all: true}
	}
	leaves, err := newLeafCache(cfg.CA, cfg.LeafValidity, cfg.MaxLeaves, time.Now)
	if err != nil {
		return nil, err
	}
	in := &interceptor{cfg: cfg, hosts: hosts, no: no, leaves: leaves, pending: map[net.Conn]struct{}{}}
	in.rt = newMitmTransport(p, cfg.Roots)
	return in, nil
}

// covers reports whether a CONNECT to host (normalised) is intercepted.
func (in *interceptor) covers(host string) bool {
	if net.ParseIP(host) != nil && !in.cfg.AllowIPTargets {
		return false
	}
	return in.hosts.match(host) && !in.no.match(host)
}

func (in *interceptor) stats() InterceptStats {
	s := InterceptStats{
		Connections: in.conns.Load(), Requests: in.requests.Load(),
		LeavesIssued: in.leaves.issued.Load(), Leaves: in.leaves.len(),
		HandshakeFailures: make(map[string]uint64, causeCount),
		OriginCert:        in.rt.memo.stats(),
	}
	for i := range in.causes {
		s.HandshakeFailures[causeNames[i]] = in.causes[i].Load()
	}
	return s
}

// hostMatcher matches host names against Interception.Hosts patterns.
type hostMatcher struct {
	all     bool
	domains []string // each matches itself and its subdomains
}

func parseHostPatterns(ps []string) (hostMatcher, error) {
	var m hostMatcher
	for _, p := range ps {
		p = strings.TrimSpace(p)
		switch {
		case p == "":
			continue
		case p == "*":
			m.all = true
			continue
		}
		p = normalHost(strings.TrimPrefix(strings.TrimPrefix(p, "*"), "."))
		if p == "" || strings.ContainsAny(p, "/:@ *") && net.ParseIP(p) == nil {
			return m, fmt.Errorf("%q is not a host name, *.domain, IP address or *", p)
		}
		m.domains = append(m.domains, p)
	}
	return m, nil
}

func (m hostMatcher) match(host string) bool {
	if m.all {
		return true
	}
	for _, d := range m.domains {
		if host == d || strings.HasSuffix(host, "."+d) {
			return true
		}
	}
	return false
}

// intercept answers a CONNECT to host:port itself, terminates the client's
// TLS with a leaf for host and hands the connection to the server of
// intercepted connections. It returns once the handshake is over.
func (p *Proxy) intercept(w http.ResponseWriter, host, port string) {
	in := p.mitm
	cc, brw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		p.gaveUp.Add(1)
		plain(w, http.StatusInternalServerError, "retrycoord: cannot take over the client connection for CONNECT")
		return
	}
	if !in.track(cc) {
		_ = cc.Close()
		return
	}
	defer in.untrack(cc)
	_ = cc.SetDeadline(time.Now().Add(in.cfg.HandshakeTimeout))
	if _, err := io.WriteString(cc, "HTTP/1.1 200 Connection established\r\n\r\n"); err != nil {
		_ = cc.Close()
		p.canceled.Add(1)
		return
	}
	var conn net.Conn = cc
	if brw.Reader.Buffered() > 0 { // the client did not wait for our answer
		conn = &bufferedConn{Conn: cc, r: brw.Reader}
	}
	var sniBad atomic.Bool
	var leafErr atomic.Bool
	tc := tls.Server(conn, &tls.Config{
		MinVersion: tls.VersionTLS12,
		NextProtos: []string{"http/1.1"},
		GetCertificate: func(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
			name := host
			if hello.ServerName != "" && normalHost(hello.ServerName) != host {
				sniBad.Store(true)
				return nil, errors.New("forward: SNI differs from the CONNECT host")
			}
			cert, err := in.leaves.get(name)
			if err != nil {
				leafErr.Store(true)
				p.logger.Warn("forward: interception: cannot issue a leaf certificate", "host", name, "err", err)
			}
			return cert, err
		},
	})
	ctx, cancel := context.WithTimeout(context.Background(), in.cfg.HandshakeTimeout)
	err = tc.HandshakeContext(ctx)
	cancel()
	if err != nil {
		cause := handshakeCause(err)
		switch {
		case sniBad.Load():
			cause = causeSNIMismatch
		case leafErr.Load():
			cause = causeLeaf
		}
		in.causes[cause].Add(1)
		p.logger.Debug("forward: interception: client handshake failed", "host", host, "cause", causeNames[cause], "err", err)
		_ = tc.Close()
		return
	}
	_ = cc.SetDeadline(time.Time{})
	in.conns.Add(1)
	in.serve(p, &interceptedConn{Conn: tc, host: host, authority: authority(host, port)})
}

// handshakeCause names why a server handshake failed.
func handshakeCause(err error) int {
	var rh tls.RecordHeaderError
	var op *net.OpError
	switch {
	case errors.As(err, &rh):
		return causeNotTLS
	case errors.Is(err, context.DeadlineExceeded) || isTimeoutErr(err):
		return causeTimeout
	case errors.As(err, &op) && op.Op == "remote error",
		// OpenSSL clients (curl, Python) that reject the certificate send an
		// alert that Go's TLS 1.3 server fails to decrypt.
		strings.Contains(err.Error(), "bad record MAC"):
		return causeUntrusted
	case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, net.ErrClosed):
		return causeClosed
	case strings.Contains(err.Error(), "application protocol"):
		return causeALPN
	}
	return causeOther
}

func isTimeoutErr(err error) bool {
	var t interface{ Timeout() bool }
	return errors.As(err, &t) && t.Timeout()
}

// authority is host:port for a URL, without the port when it is 443.
func authority(host, port string) string {
	if port == "443" {
		if strings.Contains(host, ":") {
			return "[" + host + "]"
		}
		return host
	}
	return net.JoinHostPort(host, port)
}

func (in *interceptor) track(c net.Conn) bool {
	in.pendMu.Lock()
	defer in.pendMu.Unlock()
	if in.closed {
		return false
	}
	in.pending[c] = struct{}{}
	return true
}

func (in *interceptor) untrack(c net.Conn) {
	in.pendMu.Lock()
	delete(in.pending, c)
	in.pendMu.Unlock()
}

// serve hands an intercepted connection to the server of intercepted
// connections, starting it at the first one.
func (in *interceptor) serve(p *Proxy, c *interceptedConn) {
	in.startOnce.Do(func() {
		in.ln = newConnListener()
		in.srv = &http.Server{
			Handler:           http.HandlerFunc(p.serveIntercepted),
			ReadHeaderTimeout: 10 * time.Second,
			IdleTimeout:       90 * time.Second,
			ErrorLog:          slog.NewLogLogger(p.logger.Handler(), slog.LevelDebug),
			ConnContext: func(ctx context.Context, c net.Conn) context.Context {
				if ic, ok := c.(*interceptedConn); ok {
					return context.WithValue(ctx, interceptedKey{}, ic)
				}
				return ctx
			},
		}
		in.serveDone = make(chan struct{})
		in.pendMu.Lock()
		closed := in.closed
		in.pendMu.Unlock()
		if closed {
			close(in.serveDone)
			return
		}
		go func() {
			defer close(in.serveDone)
			_ = in.srv.Serve(in.ln)
		}()
	})
	if in.ln == nil || !in.ln.push(c) { // closed before the first connection, or since
		_ = c.Close()
	}
}

// enter registers a request handler; false once closed.
func (in *interceptor) enter() bool {
	in.pendMu.Lock()
	defer in.pendMu.Unlock()
	if in.closed {
		return false
	}
	in.handlers.Add(1)
	return true
}

// close ends every intercepted connection and waits for their server and
// their requests' handlers.
func (in *interceptor) close() {
	in.pendMu.Lock()
	in.closed = true
	for c := range in.pending {
		_ = c.Close()
	}
	in.pendMu.Unlock()
	in.startOnce.Do(func() {}) // no server from now on
	if in.srv != nil {
		_ = in.srv.Close() // closes the connections: their requests' contexts end
		_ = in.ln.Close()
		<-in.serveDone
	}
	in.handlers.Wait()
	in.rt.closeIdle()
}
