package testproxy

import (
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Proxy is one HTTP forward proxy on 127.0.0.1 with a switchable Fault. It
// is safe for concurrent use.
type Proxy struct {
	ln    net.Listener
	srv   *http.Server
	out   *http.Transport // to origins, no proxy
	fault atomic.Pointer[Fault]
	auth  atomic.Pointer[string] // the wanted Proxy-Authorization, or nil
	// connectHead holds extra header lines for the 200 answer to CONNECT
	// (see SetConnectHeader), or nil.
	connectHead atomic.Pointer[string]

	requests atomic.Int64 // requests and refused connections seen
	connects atomic.Int64 // CONNECT requests seen

	done      chan struct{} // closed when Serve returns
	closeOnce sync.Once
	tunnels   sync.WaitGroup
	tunnelMu  sync.Mutex
	tunnelSet map[net.Conn]struct{}
}

// NewProxy starts a healthy proxy on a free loopback port. It is closed by
// t.Cleanup; Close may be called earlier.
func NewProxy(t testing.TB) *Proxy {
	t.Helper()
	p, err := Listen()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	return p
}

// Listen starts a healthy proxy on a free loopback port, for callers without
// a testing.TB (examples, benchmarks' setup). The caller must Close it.
func Listen() (*Proxy, error) { return ListenAddr("127.0.0.1:0") }

// ListenAddr starts a healthy proxy on addr ("host:port"; port 0 picks a free
// one), for the compose test farm, which listens on every interface of its
// container. The caller must Close it.
func ListenAddr(addr string) (*Proxy, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("testproxy: listen: %w", err)
	}
	p := &Proxy{
		out:       &http.Transport{Proxy: nil, DisableCompression: true, MaxIdleConnsPerHost: 64},
		done:      make(chan struct{}),
		tunnelSet: make(map[net.Conn]struct{}),
	}
	p.fault.Store(&Fault{})
	p.ln = &faultListener{Listener: ln, p: p}
	p.srv = &http.Server{Handler: p, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		defer close(p.done)
		_ = p.srv.Serve(p.ln)
	}()
	return p, nil
}

// URL returns the proxy's URL, "http://" + Addr().
func (p *Proxy) URL() string { return "http://" + p.Addr() }

// Addr returns the proxy's listening address, e.g. "127.0.0.1:port".
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

// Set switches the proxy's fault; requests arriving from now on see it.
func (p *Proxy) Set(f Fault) { p.fault.Store(&f) }

// Fault returns the fault in force.
func (p *Proxy) Fault() Fault { return *p.fault.Load() }

// RequireAuth makes the proxy answer 407 to requests without the
// Proxy-Authorization of user and password (Basic). An empty user turns the
// requirement off.
func (p *Proxy) RequireAuth(user, password string) {
	if user == "" {
		p.auth.Store(nil)
		return
	}
	s := "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+password))
	p.auth.Store(&s)
}

// SetConnectHeader adds a header line, such as "Transfer-Encoding: chunked"
// or "Content-Length: 0", to the proxy's 200 answer to CONNECT, as some
// real proxies do. RFC 9110 §9.3.6 says a client must ignore those fields
// in a 2xx answer to CONNECT: the tunnel starts right after the header, and
// the proxy sends no body. An empty line turns it off.
func (p *Proxy) SetConnectHeader(line string) {
	if line == "" {
		p.connectHead.Store(nil)
		return
	}
	line += "\r\n"
	p.connectHead.Store(&line)
}

// Requests returns how many requests (plain and CONNECT) and refused
// connections the proxy has seen.
func (p *Proxy) Requests() int64 { return p.requests.Load() }

// Connects returns how many CONNECT requests the proxy has seen.
func (p *Proxy) Connects() int64 { return p.connects.Load() }

// ResetCounters sets the counters back to zero.
func (p *Proxy) ResetCounters() {
	p.requests.Store(0)
	p.connects.Store(0)
}

// Close stops the proxy, drops its connections and tunnels, and waits for
// its goroutines. It is idempotent.
func (p *Proxy) Close() {
	p.closeOnce.Do(func() {
		_ = p.srv.Close()
		<-p.done
		p.tunnelMu.Lock()
		for c := range p.tunnelSet {
			_ = c.Close()
		}
		p.tunnelMu.Unlock()
		p.tunnels.Wait()
		p.out.CloseIdleConnections()
	})
}

// ServeHTTP implements http.Handler: the proxy itself.
func (p *Proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p.requests.Add(1)
	if r.Method == http.MethodConnect {
		p.connects.Add(1)
	}
	f := *p.fault.Load()
	if f.Only != "" && f.Only != r.URL.Host && f.Only != r.Host {
		f = Healthy()
	}
	if want := p.auth.Load(); want != nil && r.Header.Get("Proxy-Authorization") != *want {
		f = ProxyAuth()
	}
	switch f.Kind {
	case KindStatus, KindBan:
		if f.RetryAfter != "" {
			w.Header().Set("Retry-After", f.RetryAfter)
		}
		http.Error(w, f.String(), f.Status)
		return
	case KindProxyAuth:
		w.Header().Set("Proxy-Authenticate", `Basic realm="testproxy"`)
		http.Error(w, "proxy authentication required", http.StatusProxyAuthRequired)
		return
	case KindHang:
		bound := f.Delay
		if bound <= 0 {
			bound = 30 * time.Second
		}
		if !sleep(r.Context(), bound) {
			return
		}
		panic(http.ErrAbortHandler) // drop the connection without an answer
	case KindSlow:
		if !sleep(r.Context(), f.Delay) {
			return
		}
	case KindRefuse:
		// A connection accepted before the switch: drop it.
		panic(http.ErrAbortHandler)
	}
	if r.Method == http.MethodConnect {
		p.tunnel(w, r)
		return
	}
	p.forward(w, r)
}

// hopHeaders are removed when forwarding (RFC 9110 §7.6.1).
var hopHeaders = []string{
	"Connection", "Proxy-Connection", "Keep-Alive", "Proxy-Authenticate",
	"Proxy-Authorization", "Te", "Trailer", "Transfer-Encoding", "Upgrade",
}

func (p *Proxy) forward(w http.ResponseWriter, r *http.Request) {
	if r.URL.Host == "" {
		http.Error(w, "testproxy: want an absolute-form request", http.StatusBadRequest)
		return
	}
	out := r.Clone(r.Context())
	out.RequestURI = ""
	for _, h := range hopHeaders {
		out.Header.Del(h)
	}
	if r.ContentLength == 0 {
		out.Body = nil
	}
	resp, err := p.out.RoundTrip(out)
	if err != nil {
		http.Error(w, "testproxy: "+err.Error(), http.StatusBadGateway)
		return
	}
	defer resp.Body.Close()
	for _, h := range hopHeaders {
		resp.Header.Del(h)
	}
	for k, vs := range resp.Header {
		w.Header()[k] = vs
	}
	w.WriteHeader(resp.StatusCode)
	_, _ = io.Copy(w, resp.Body)
}

func (p *Proxy) tunnel(w http.ResponseWriter, r *http.Request) {
	var d net.Dialer
	dst, err := d.DialContext(r.Context(), "tcp", r.Host)
	if err != nil {
		http.Error(w, "testproxy: "+err.Error(), http.StatusBadGateway)
		return
	}
	hj, ok := w.(http.Hijacker)
	if !ok {
		_ = dst.Close()
		http.Error(w, "testproxy: cannot hijack", http.StatusInternalServerError)
		return
	}
	src, buf, err := hj.Hijack()
	if err != nil {
		_ = dst.Close()
		return
	}
	head := "HTTP/1.1 200 Connection established\r\n"
	if extra := p.connectHead.Load(); extra != nil {
		head += *extra
	}
	if _, err := src.Write([]byte(head + "\r\n")); err != nil {
		_ = src.Close()
		_ = dst.Close()
		return
	}
	if !p.track(src, dst) {
		return
	}
	go func() {
		defer p.tunnels.Done()
		if n := buf.Reader.Buffered(); n > 0 {
			b, _ := buf.Reader.Peek(n)
			_, _ = dst.Write(b)
		}
		_, _ = io.Copy(dst, src)
		closeWrite(dst)
	}()
	go func() {
		defer p.tunnels.Done()
		_, _ = io.Copy(src, dst)
		p.untrack(src, dst)
	}()
}

func (p *Proxy) track(cs ...net.Conn) bool {
	p.tunnelMu.Lock()
	defer p.tunnelMu.Unlock()
	select {
	case <-p.done:
		for _, c := range cs {
			_ = c.Close()
		}
		return false
	default:
	}
	for _, c := range cs {
		p.tunnelSet[c] = struct{}{}
	}
	p.tunnels.Add(2)
	return true
}

func (p *Proxy) untrack(cs ...net.Conn) {
	p.tunnelMu.Lock()
	defer p.tunnelMu.Unlock()
	for _, c := range cs {
		_ = c.Close()
		delete(p.tunnelSet, c)
	}
}

func closeWrite(c net.Conn) {
	if tc, ok := c.(interface{ CloseWrite() error }); ok {
		_ = tc.CloseWrite()
	}
}

// sleep waits d or until ctx ends; it reports whether d passed.
func sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// faultListener resets connections while the proxy's fault is Refuse.
type faultListener struct {
	net.Listener
	p *Proxy
}

func (l *faultListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		if l.p.fault.Load().Kind != KindRefuse {
			return c, nil
		}
		l.p.requests.Add(1)
		if tc, ok := c.(*net.TCPConn); ok {
			_ = tc.SetLinger(0) // RST rather than FIN
		}
		_ = c.Close()
	}
}

// Farm is a set of proxies started together. It is safe for concurrent use.
type Farm struct {
	Proxies []*Proxy
}

// Start starts n healthy proxies, closed by t.Cleanup.
func Start(t testing.TB, n int) *Farm {
	t.Helper()
	f := &Farm{Proxies: make([]*Proxy, n)}
	for i := range f.Proxies {
		f.Proxies[i] = NewProxy(t)
	}
	return f
}

// URLs returns the proxies' URLs in order.
func (f *Farm) URLs() []string {
	out := make([]string, len(f.Proxies))
	for i, p := range f.Proxies {
		out[i] = p.URL()
	}
	return out
}

// ByURL returns the proxy with the given URL or address ("http://" optional),
// or nil.
func (f *Farm) ByURL(u string) *Proxy {
	u = strings.TrimPrefix(u, "http://")
	for _, p := range f.Proxies {
		if p.Addr() == u {
			return p
		}
	}
	return nil
}

// Requests returns the sum of the proxies' Requests.
func (f *Farm) Requests() int64 {
	var n int64
	for _, p := range f.Proxies {
		n += p.Requests()
	}
	return n
}

// SetAll switches every proxy to fault.
func (f *Farm) SetAll(fault Fault) {
	for _, p := range f.Proxies {
		p.Set(fault)
	}
}

// Close closes every proxy.
func (f *Farm) Close() {
	for _, p := range f.Proxies {
		p.Close()
	}
}
