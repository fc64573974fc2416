package forward

import (
	"bufio"
	"crypto/tls"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/proxywhirl/retrycoord/coord"
	"github.com/proxywhirl/retrycoord/internal/testproxy"
	"github.com/proxywhirl/retrycoord/internal/testutil"
	"github.com/proxywhirl/retrycoord/policy"
	"github.com/proxywhirl/retrycoord/state"
)

// TestInterceptRetries: through the agent with a CA, an HTTPS origin that
// answers 503 once then 200 gives the client 200 after 2 attempts; a
// second request reuses the client's intercepted connection.
func TestInterceptRetries(t *testing.T) {
	ca := testCA(t)
	origin := newNamedOrigin(t, scripted(503))
	farm := testproxy.Start(t, 2)
	p, purl := serve(t, Config{Coordinator: newCoord(t, farm.URLs()...), Intercept: interceptCfg(ca, origin)})
	cl := client(t, purl, trusting(ca), true)

	resp, body := get(t, cl, origin.URL+"/a")
	if resp.StatusCode != 200 || body != "ok" || resp.Header.Get(coord.HeaderAttempts) != "2" {
		t.Fatalf("got %d %q attempts %q; want 200 \"ok\" after 2", resp.StatusCode, body, resp.Header.Get(coord.HeaderAttempts))
	}
	resp, body = get(t, cl, origin.URL+"/b")
	if resp.StatusCode != 200 || body != "ok" || resp.Header.Get(coord.HeaderAttempts) != "1" {
		t.Fatalf("second: %d %q attempts %q; want 200 \"ok\" after 1", resp.StatusCode, body, resp.Header.Get(coord.HeaderAttempts))
	}
	st := p.Stats()
	if st.Intercept.Connections != 1 || st.Intercept.Requests != 2 || st.Tunnels != 0 || st.Intercept.LeavesIssued != 1 {
		t.Errorf("stats %+v: want 1 intercepted connection, 2 requests, 0 blind tunnels, 1 leaf", st)
	}
	if got := len(origin.Seen()); got != 3 {
		t.Errorf("origin saw %d requests, want 3", got)
	}
}

// TestInterceptBan: a 403 ban through one proxy is retried on another and
// counted on the pair of the banned proxy and the site, not on the proxy.
func TestInterceptBan(t *testing.T) {
	ca := testCA(t)
	origin := newNamedOrigin(t, scripted(403))
	farm := testproxy.Start(t, 2)
	c := newCoord(t, farm.URLs()...)
	_, purl := serve(t, Config{Coordinator: c, Intercept: interceptCfg(ca, origin)})
	resp, body := get(t, client(t, purl, trusting(ca), true), origin.URL)
	if resp.StatusCode != 200 || body != "ok" || resp.Header.Get(coord.HeaderAttempts) != "2" {
		t.Fatalf("got %d %q attempts %q; want 200 after 2", resp.StatusCode, body, resp.Header.Get(coord.HeaderAttempts))
	}
	as := c.Recorder().Attempts(0)
	if len(as) != 2 || as[0].Class != coord.ClassBan || as[1].Class != coord.ClassSuccess || as[0].Upstream == as[1].Upstream {
		t.Fatalf("attempts %+v: want a ban, then a success through another upstream", as)
	}
	site := c.SiteFor(&http.Request{URL: mustParse(t, origin.URL)}) // "localhost"
	if got := breakerFailuresAt(c, state.PairKey(as[0].Upstream, site)); got != 1 {
		t.Errorf("the pair (banned upstream, %s) counts %d failures, want 1", site, got)
	}
	if got := breakerFailures(c, as[0].Upstream); got != 0 {
		t.Errorf("the banned upstream's own breaker counts %d failures, want 0", got)
	}
}

// TestInterceptingUpstreamBlamed: an upstream that intercepts TLS with a
// certificate of its own is counted against; the healthy one is not.
func TestInterceptingUpstreamBlamed(t *testing.T) {
	ca := testCA(t)
	origin := newNamedOrigin(t, scripted())
	good := testproxy.NewProxy(t)
	evil := newEvilProxy(t)
	c := mitmCoord(t, policy.StrategyRoundRobin, evil.URL(), good.URL())
	p, purl := serve(t, Config{Coordinator: c, Intercept: interceptCfg(ca, origin)})
	cl := client(t, purl, trusting(ca), true)

	// With the good one out, the evil one's certificate is not known to be
	// its fault: target failures, retried, counted against nobody.
	c.Table().Trip(keyOf(good), time.Minute, "test")
	if resp, _ := get(t, cl, origin.URL); resp.StatusCode != http.StatusBadGateway {
		t.Fatalf("with only the intercepting upstream: %d, want 502", resp.StatusCode)
	}
	if n := breakerFailures(c, evil.key()); n != 0 {
		t.Fatalf("before the host verified: %d failures against the intercepting upstream, want 0", n)
	}
	// Once the host verifies through the good one, the evil one is blamed
	// after all, once; from then on at once.
	c.Table().Reset(keyOf(good))
	fetch := func(i int) {
		resp, body := get(t, cl, origin.URL)
		if resp.StatusCode != 200 || body != "ok" || resp.Header.Get(coord.HeaderUpstream) != keyOf(good) {
			t.Fatalf("request %d: %d %q through %q; want 200 through the good upstream", i, resp.StatusCode, body, resp.Header.Get(coord.HeaderUpstream))
		}
	}
	fetch(1)
	if n := breakerFailures(c, evil.key()); n != 1 {
		t.Fatalf("after the host verified: %d failures against the intercepting upstream, want 1", n)
	}
	for i := 2; i < 5; i++ { // round-robin: the evil one is tried first at least once
		fetch(i)
	}
	var evilFail, goodFail int
	for _, a := range c.Recorder().Attempts(0) {
		switch {
		case a.Upstream == evil.key() && a.Class == coord.ClassFailure:
			evilFail++
		case a.Upstream == keyOf(good) && a.Class != coord.ClassSuccess:
			goodFail++
		}
	}
	if n := breakerFailures(c, evil.key()); n != evilFail {
		t.Errorf("intercepting upstream's breaker counts %d failures, the recorder %d", n, evilFail)
	}
	if evilFail < 2 || goodFail != 0 {
		t.Errorf("failures: intercepting upstream %d, healthy %d; want ≥ 2 and 0 (%+v)", evilFail, goodFail, c.Recorder().Attempts(0))
	}
	if st := p.Stats().Intercept.OriginCert; st["proxy"] < 2 || st["site"] != 0 || st["unknown"] < 3 {
		t.Errorf("OriginCert %v: want ≥ 2 proxy, 0 site, ≥ 3 unknown", st)
	}
}

// TestBadCertEverywhereIsTheSites: an origin whose certificate does not
// verify through any upstream is the site's fault: 502 with the reason,
// nothing counted against the proxies, and no retry once known.
func TestBadCertEverywhereIsTheSites(t *testing.T) {
	ca := testCA(t)
	origin := newNamedOrigin(t, scripted())
	farm := testproxy.Start(t, 3)
	c := newCoord(t, farm.URLs()...)
	p, purl := serve(t, Config{Coordinator: c, Intercept: Interception{CA: ca, Roots: trusting(testCA(t)).RootCAs}})
	cl := client(t, purl, trusting(ca), true)
	resp, body := get(t, cl, origin.URL)
	if resp.StatusCode != http.StatusBadGateway || !strings.Contains(body, "does not verify through 2 upstream proxies") {
		t.Fatalf("got %d %q; want 502 naming the site's certificate", resp.StatusCode, body)
	}
	resp, _ = get(t, cl, origin.URL)
	if resp.StatusCode != http.StatusBadGateway {
		t.Fatalf("second request: %d, want 502", resp.StatusCode)
	}
	as := c.Recorder().Attempts(0)
	want := []coord.Class{coord.ClassTarget, coord.ClassFatal, coord.ClassFatal}
	if len(as) != len(want) {
		t.Fatalf("attempts %+v: want %v", as, want)
	}
	for i, a := range as {
		if a.Class != want[i] {
			t.Errorf("attempt %d: %v, want %v", i, a.Class, want[i])
		}
	}
	for _, u := range c.Upstreams() {
		if n := breakerFailures(c, u.Key()); n != 0 {
			t.Errorf("%s: %d failures, want 0", u.Key(), n)
		}
	}
	if got := len(origin.Seen()); got != 0 {
		t.Errorf("origin answered %d requests", got)
	}
	if st := p.Stats().Intercept.OriginCert; st["site"] != 2 || st["unknown"] != 1 {
		t.Errorf("OriginCert %v: want 2 site, 1 unknown", st)
	}
}

// TestInterceptScope: hosts outside Hosts, in NoHosts, and IP literals
// (unless allowed) get blind tunnels, as without a CA.
func TestInterceptScope(t *testing.T) {
	ca := testCA(t)
	origin := newNamedOrigin(t, scripted())
	ipOrigin := testproxy.NewTLSOrigin(t) // https://127.0.0.1:port
	for _, tc := range []struct {
		name      string
		cfg       Interception
		url       string
		intercept bool
	}{
		{"all", Interception{}, origin.URL, true},
		{"listed", Interception{Hosts: []string{"*.example", "LOCALHOST"}}, origin.URL, true},
		{"not listed", Interception{Hosts: []string{"example.com"}}, origin.URL, false},
		{"no-hosts wins", Interception{Hosts: []string{"*"}, NoHosts: []string{"localhost"}}, origin.URL, false},
		{"ip literal", Interception{}, ipOrigin.URL, false},
		{"ip literal allowed", Interception{AllowIPTargets: true}, ipOrigin.URL, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			farm := testproxy.Start(t, 1)
			cfg := tc.cfg
			cfg.CA = ca
			cfg.Roots = origin.Pool()
			cfg.Roots.AddCert(ipOrigin.Server().Certificate())
			p, purl := serve(t, Config{Coordinator: newCoord(t, farm.URLs()...), Intercept: cfg})
			trust := trusting(ca)
			if !tc.intercept {
				trust = &tls.Config{RootCAs: origin.Pool()}
				trust.RootCAs.AddCert(ipOrigin.Server().Certificate())
			}
			resp, body := get(t, client(t, purl, trust, false), tc.url)
			if resp.StatusCode != 200 || body != "ok" {
				t.Fatalf("got %d %q, want 200 ok", resp.StatusCode, body)
			}
			st := p.Stats()
			if got := st.Intercept.Connections == 1 && st.Tunnels == 0; got != tc.intercept {
				t.Errorf("intercepted %v (stats %+v), want %v", got, st, tc.intercept)
			}
		})
	}
}

// TestInterceptHandshakeFailures: a leaf is issued only for the CONNECT
// host (an SNI for another name fails the handshake), and a client that
// does not trust the CA is counted as such.
func TestInterceptHandshakeFailures(t *testing.T) {
	ca := testCA(t)
	origin := newNamedOrigin(t, scripted())
	farm := testproxy.Start(t, 1)
	p, purl := serve(t, Config{Coordinator: newCoord(t, farm.URLs()...), Intercept: interceptCfg(ca, origin)})
	target := hostOf(origin.URL)

	handshake := func(sni string, trust *tls.Config) error {
		resp, _, conn := rawConnect(t, purl, target, "")
		if resp.StatusCode != 200 {
			t.Fatalf("CONNECT: %d", resp.StatusCode)
		}
		cfg := trust.Clone()
		cfg.ServerName = sni
		tc := tls.Client(conn, cfg)
		_ = tc.SetDeadline(time.Now().Add(5 * time.Second))
		err := tc.Handshake()
		_ = tc.Close()
		return err
	}
	if err := handshake("other.example", trusting(ca)); err == nil {
		t.Fatal("handshake with SNI other.example succeeded")
	}
	if err := handshake("localhost", &tls.Config{}); err == nil { // the system's roots only
		t.Fatal("handshake without trusting the CA succeeded")
	}
	waitStats(t, p, func(s InterceptStats) bool {
		return s.HandshakeFailures["sni_mismatch"] == 1 && s.HandshakeFailures["untrusted"] == 1
	})
	st := p.Stats().Intercept
	if st.LeavesIssued != 1 || st.Connections != 0 {
		t.Errorf("stats %+v: want 1 leaf (localhost), no connection", st)
	}
	if farm.Requests() != 0 {
		t.Errorf("upstream saw %d requests, want 0", farm.Requests())
	}
}

// TestInterceptNoSecretsToOrigin: what reaches the origin carries none of
// the client's or the upstream's credentials, nor retrycoord's headers.
func TestInterceptNoSecretsToOrigin(t *testing.T) {
	ca := testCA(t)
	origin := newNamedOrigin(t, scripted())
	up := testproxy.NewProxy(t)
	up.RequireAuth("up", "pw-upstream-secret")
	upURL := strings.Replace(up.URL(), "http://", "http://up:pw-upstream-secret@", 1)
	_, purl := serve(t, Config{Coordinator: newCoord(t, upURL), Intercept: interceptCfg(ca, origin),
		ClientAuth: Credentials{User: "cl", Password: "pw-client-secret"}})
	authed := strings.Replace(purl, "http://", "http://cl:pw-client-secret@", 1)
	resp, body := get(t, client(t, authed, trusting(ca), true), origin.URL)
	if resp.StatusCode != 200 || body != "ok" {
		t.Fatalf("got %d %q", resp.StatusCode, body)
	}
	seen := origin.Seen()
	if len(seen) != 1 {
		t.Fatalf("origin saw %d requests", len(seen))
	}
	for k, vs := range seen[0] {
		for _, v := range vs {
			if strings.Contains(v, "secret") || strings.Contains(strings.ToLower(k), "retrycoord") || k == "Proxy-Authorization" {
				t.Errorf("origin got %s: %s", k, v)
			}
		}
	}
}

// TestInterceptMisdirected: a request for another host on an intercepted
// connection is answered 421 and sent nowhere.
func TestInterceptMisdirected(t *testing.T) {
	ca := testCA(t)
	origin := newNamedOrigin(t, scripted())
	farm := testproxy.Start(t, 1)
	_, purl := serve(t, Config{Coordinator: newCoord(t, farm.URLs()...), Intercept: interceptCfg(ca, origin)})
	resp, _, conn := rawConnect(t, purl, hostOf(origin.URL), "")
	if resp.StatusCode != 200 {
		t.Fatalf("CONNECT: %d", resp.StatusCode)
	}
	cfg := trusting(ca)
	cfg.ServerName = "localhost"
	tc := tls.Client(conn, cfg)
	_ = tc.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(tc, "GET / HTTP/1.1\r\nHost: elsewhere.example\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	r, err := http.ReadResponse(bufio.NewReader(tc), nil)
	if err != nil {
		t.Fatal(err)
	}
	_ = r.Body.Close()
	if r.StatusCode != http.StatusMisdirectedRequest || farm.Requests() != 0 {
		t.Errorf("got %d, upstream requests %d; want 421 and 0", r.StatusCode, farm.Requests())
	}
}

func waitStats(t *testing.T, p *Proxy, cond func(InterceptStats) bool) {
	t.Helper()
	testutil.Eventually(t, 5*time.Second, "interception stats", func() bool { return cond(p.Stats().Intercept) })
}

// evilProxy is a CONNECT proxy that intercepts TLS with a certificate of
// its own CA, as some broken proxies do.
type evilProxy struct {
	ln net.Listener
}

func newEvilProxy(t *testing.T) *evilProxy {
	t.Helper()
	own := testCA(t)
	lc, err := newLeafCache(own, time.Hour, 8, time.Now)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{ErrorLog: log.New(io.Discard, "", 0), Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host := hostOnly(r.Host)
		cc, _, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		defer cc.Close()
		_ = cc.SetDeadline(time.Now().Add(5 * time.Second))
		_, _ = io.WriteString(cc, "HTTP/1.1 200 Connection established\r\n\r\n")
		tc := tls.Server(cc, &tls.Config{GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return lc.get(host) }})
		if tc.Handshake() == nil { // a client that trusts anything: answer as the origin would not
			_, _ = io.WriteString(tc, "HTTP/1.1 200 OK\r\nContent-Length: 4\r\nConnection: close\r\n\r\nevil")
		}
	})}
	done := make(chan struct{})
	go func() { defer close(done); _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close(); <-done })
	return &evilProxy{ln: ln}
}

func (e *evilProxy) URL() string { return "http://" + e.ln.Addr().String() }
func (e *evilProxy) key() string { return e.URL() }

// TestInterceptProxyStatusTarget: an upstream refusing the CONNECT of an
// intercepted request with a Proxy-Status about the target is retried and
// counted against no proxy (coord.ClassTarget), as for blind tunnels.
func TestInterceptProxyStatusTarget(t *testing.T) {
	ca := testCA(t)
	origin := newNamedOrigin(t, scripted())
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Proxy-Status", `fake; error=destination_unavailable`)
		http.Error(w, "target down", http.StatusBadGateway)
	}))
	t.Cleanup(up.Close)
	c := newCoord(t, up.URL)
	_, purl := serve(t, Config{Coordinator: c, Intercept: interceptCfg(ca, origin)})
	resp, _ := get(t, client(t, purl, trusting(ca), true), origin.URL)
	if resp.StatusCode != http.StatusBadGateway || resp.Header.Get(coord.HeaderAttempts) != "3" {
		t.Fatalf("got %d after %q attempts; want 502 after 3", resp.StatusCode, resp.Header.Get(coord.HeaderAttempts))
	}
	for _, a := range c.Recorder().Attempts(0) {
		if a.Class != coord.ClassTarget {
			t.Errorf("attempt %+v, want class target", a)
		}
	}
	if n := breakerFailures(c, up.URL); n != 0 {
		t.Errorf("the upstream's breaker counts %d failures, want 0", n)
	}
}

// TestCloseEndsInterceptedConnections: Close ends intercepted connections
// with a request in flight and returns after its handler.
func TestCloseEndsInterceptedConnections(t *testing.T) {
	ca := testCA(t)
	arrived := make(chan struct{}, 1)
	origin := newNamedOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		arrived <- struct{}{}
		<-r.Context().Done() // until the agent's connection goes
	})
	farm := testproxy.Start(t, 1)
	p, purl := serve(t, Config{Coordinator: newCoord(t, farm.URLs()...), Intercept: interceptCfg(ca, origin)})
	cl := client(t, purl, trusting(ca), true)
	errc := make(chan error, 1)
	go func() {
		resp, err := cl.Get(origin.URL)
		if err == nil {
			_ = resp.Body.Close()
		}
		errc <- err
	}()
	<-arrived
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if got := p.Stats().Canceled; got != 1 {
		t.Errorf("after Close: Canceled %d, want 1 (the handler ended before Close returned)", got)
	}
	if err := <-errc; err == nil {
		t.Error("the client got an answer from a closed proxy")
	}
}

// TestInterceptHandshakeCauses: a client that says nothing after CONNECT
// times out; one that speaks plain HTTP in the tunnel is not TLS.
func TestInterceptHandshakeCauses(t *testing.T) {
	ca := testCA(t)
	origin := newNamedOrigin(t, scripted())
	farm := testproxy.Start(t, 1)
	cfg := interceptCfg(ca, origin)
	cfg.HandshakeTimeout = 200 * time.Millisecond
	p, purl := serve(t, Config{Coordinator: newCoord(t, farm.URLs()...), Intercept: cfg})
	if resp, _, _ := rawConnect(t, purl, hostOf(origin.URL), ""); resp.StatusCode != 200 {
		t.Fatalf("CONNECT: %d", resp.StatusCode)
	}
	waitStats(t, p, func(s InterceptStats) bool { return s.HandshakeFailures["timeout"] == 1 })
	resp, _, conn := rawConnect(t, purl, hostOf(origin.URL), "")
	if resp.StatusCode != 200 {
		t.Fatalf("CONNECT: %d", resp.StatusCode)
	}
	if _, err := io.WriteString(conn, "GET / HTTP/1.1\r\nHost: localhost\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	waitStats(t, p, func(s InterceptStats) bool { return s.HandshakeFailures["not_tls"] == 1 })
	if st := p.Stats().Intercept; st.Connections != 0 || farm.Requests() != 0 {
		t.Errorf("connections %d, upstream requests %d; want 0 and 0", st.Connections, farm.Requests())
	}
}
