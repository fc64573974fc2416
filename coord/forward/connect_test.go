package forward

import (
	"crypto/tls"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/proxywhirl/retrycoord/coord"
	"github.com/proxywhirl/retrycoord/internal/testproxy"
	"github.com/proxywhirl/retrycoord/internal/testutil"
)

// originTLS returns the TLS configuration that trusts origin's certificate.
func originTLS(origin *testproxy.Origin) *tls.Config {
	return origin.Server().Client().Transport.(*http.Transport).TLSClientConfig
}

func TestConnectFailover(t *testing.T) {
	farm := testproxy.Start(t, 2)
	farm.Proxies[0].Set(testproxy.Refuse())
	origin := testproxy.NewTLSOrigin(t)
	p, purl := serve(t, Config{Coordinator: newCoord(t, farm.URLs()...)})
	cl := client(t, purl, originTLS(origin), false) // a new tunnel per request
	for i := range 3 {
		resp, body := get(t, cl, origin.URL+"/secure")
		if resp.StatusCode != 200 || body != "ok" {
			t.Fatalf("request %d: %d %q, want 200 \"ok\"", i, resp.StatusCode, body)
		}
	}
	if got := farm.Proxies[1].Connects(); got != 3 {
		t.Errorf("healthy upstream saw %d CONNECTs, want 3", got)
	}
	if got := p.Stats().Tunnels; got != 3 {
		t.Errorf("Stats().Tunnels = %d, want 3", got)
	}
	testutil.Eventually(t, 5*time.Second, "the tunnels to close", func() bool { return p.Stats().ActiveTunnels == 0 })
}

func TestConnectUpstreamAuth(t *testing.T) {
	farm := testproxy.Start(t, 2)
	farm.Proxies[0].Set(testproxy.ProxyAuth())
	farm.Proxies[1].RequireAuth("up", "pw-upstream")
	origin := testproxy.NewTLSOrigin(t)
	authed := strings.Replace(farm.Proxies[1].URL(), "http://", "http://up:pw-upstream@", 1)
	_, purl := serve(t, Config{Coordinator: newCoord(t, farm.Proxies[0].URL(), authed)})
	cl := client(t, purl, originTLS(origin), false)
	for i := range 2 {
		resp, body := get(t, cl, origin.URL)
		if resp.StatusCode != 200 || body != "ok" {
			t.Fatalf("request %d: %d %q, want 200 \"ok\"", i, resp.StatusCode, body)
		}
	}
	if got := farm.Proxies[1].Connects(); got != 2 {
		t.Errorf("authenticated upstream saw %d CONNECTs, want 2", got)
	}
}

func TestConnectErrors(t *testing.T) {
	origin := testproxy.NewTLSOrigin(t)
	target := hostOf(origin.URL)
	t.Run("all broken", func(t *testing.T) {
		farm := testproxy.Start(t, 3)
		farm.Proxies[0].Set(testproxy.Status(502))
		farm.Proxies[1].Set(testproxy.Refuse())
		farm.Proxies[2].RequireAuth("up", "right")
		wrong := strings.Replace(farm.Proxies[2].URL(), "http://", "http://up:hunter2@", 1)
		_, purl := serve(t, Config{Coordinator: newCoord(t, farm.Proxies[0].URL(), farm.Proxies[1].URL(), wrong)})
		resp, body, _ := rawConnect(t, purl, target, "")
		if resp.StatusCode != http.StatusBadGateway || resp.Header.Get(coord.HeaderAttempts) != "3" {
			t.Fatalf("got %d, attempts %q; want 502 after 3", resp.StatusCode, resp.Header.Get(coord.HeaderAttempts))
		}
		if !strings.Contains(body, "gave up") || strings.Contains(body, "hunter2") {
			t.Errorf("body %q: want an explanation without the password", body)
		}
	})
	t.Run("none eligible", func(t *testing.T) {
		farm := testproxy.Start(t, 1)
		c := newCoord(t, farm.URLs()...)
		c.Table().Trip(keyOf(farm.Proxies[0]), time.Minute, "test")
		_, purl := serve(t, Config{Coordinator: c})
		resp, _, _ := rawConnect(t, purl, target, "")
		if resp.StatusCode != http.StatusServiceUnavailable {
			t.Fatalf("status %d, want 503", resp.StatusCode)
		}
	})
	t.Run("bad target", func(t *testing.T) {
		farm := testproxy.Start(t, 1)
		_, purl := serve(t, Config{Coordinator: newCoord(t, farm.URLs()...)})
		resp, _, _ := rawConnect(t, purl, "no-port.example", "")
		if resp.StatusCode != http.StatusBadRequest || farm.Requests() != 0 {
			t.Fatalf("status %d, upstream requests %d; want 400 and 0", resp.StatusCode, farm.Requests())
		}
	})
	t.Run("client auth", func(t *testing.T) {
		farm := testproxy.Start(t, 1)
		_, purl := serve(t, Config{Coordinator: newCoord(t, farm.URLs()...), ClientAuth: Credentials{User: "a", Password: "b"}})
		resp, _, _ := rawConnect(t, purl, target, "")
		if resp.StatusCode != http.StatusProxyAuthRequired {
			t.Fatalf("without credentials: status %d, want 407", resp.StatusCode)
		}
		resp, _, _ = rawConnect(t, purl, target, "Proxy-Authorization: "+basicAuth("a", "b")+"\r\n")
		if resp.StatusCode != http.StatusOK || resp.Header.Get(coord.HeaderUpstream) != keyOf(farm.Proxies[0]) {
			t.Fatalf("with credentials: status %d, upstream %q", resp.StatusCode, resp.Header.Get(coord.HeaderUpstream))
		}
	})
}

func TestCloseEndsTunnels(t *testing.T) {
	farm := testproxy.Start(t, 1)
	origin := testproxy.NewTLSOrigin(t)
	p, purl := serve(t, Config{Coordinator: newCoord(t, farm.URLs()...)})
	resp, _, conn := rawConnect(t, purl, hostOf(origin.URL), "")
	if resp.StatusCode != 200 {
		t.Fatalf("status %d, want 200", resp.StatusCode)
	}
	testutil.Eventually(t, 5*time.Second, "the tunnel to open", func() bool { return p.Stats().ActiveTunnels == 1 })
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	if n, err := conn.Read(make([]byte, 1)); err == nil || n != 0 {
		t.Fatalf("read from a closed tunnel: %d, %v", n, err)
	}
	if got := p.Stats().ActiveTunnels; got != 0 {
		t.Errorf("ActiveTunnels after Close = %d", got)
	}
	if err := p.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	r2, body := get(t, client(t, purl, nil, false), "http://example.test/")
	if r2.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("after Close: %d %q, want 503", r2.StatusCode, body)
	}
}

func TestHTTPSUpstream(t *testing.T) {
	px, err := testproxy.Listen() // its handler, served over TLS below
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(px.Close)
	px.RequireAuth("up", "pw-tls")
	srv := httptest.NewTLSServer(px)
	t.Cleanup(srv.Close)
	trust := srv.Client().Transport.(*http.Transport).TLSClientConfig // httptest's one certificate
	upURL := strings.Replace(srv.URL, "https://", "https://up:pw-tls@", 1)
	base := defaultTransport(DefaultDialTimeout)
	base.TLSClientConfig = trust
	_, purl := serve(t, Config{Coordinator: newCoord(t, upURL), Base: base})

	tlsOrigin := testproxy.NewTLSOrigin(t)
	resp, body := get(t, client(t, purl, originTLS(tlsOrigin), false), tlsOrigin.URL)
	if resp.StatusCode != 200 || body != "ok" {
		t.Fatalf("CONNECT through an https upstream: %d %q", resp.StatusCode, body)
	}
	origin := testproxy.NewOrigin(t)
	resp, body = get(t, client(t, purl, nil, true), origin.URL)
	if resp.StatusCode != 200 || body != "ok" {
		t.Fatalf("GET through an https upstream: %d %q", resp.StatusCode, body)
	}
	if px.Connects() != 1 || px.Requests() != 2 {
		t.Errorf("upstream saw %d requests, %d CONNECTs; want 2 and 1", px.Requests(), px.Connects())
	}
}

// TestConnectAnswerWithFraming: a proxy that answers CONNECT with "200" and
// Transfer-Encoding: chunked or a Content-Length has established the tunnel
// (RFC 9110 §9.3.6); the tunnel works at the first attempt and nothing is
// counted against the proxy.
func TestConnectAnswerWithFraming(t *testing.T) {
	for _, line := range []string{"Transfer-Encoding: chunked", "Content-Length: 0", "Content-Length: 12"} {
		t.Run(line, func(t *testing.T) {
			farm := testproxy.Start(t, 1)
			farm.Proxies[0].SetConnectHeader(line)
			origin := testproxy.NewTLSOrigin(t)
			c := newCoord(t, farm.URLs()...)
			p, purl := serve(t, Config{Coordinator: c, ConnectTimeout: 3 * time.Second})
			cl := client(t, purl, originTLS(origin), false)
			resp, body := get(t, cl, origin.URL+"/secure")
			if resp.StatusCode != 200 || body != "ok" {
				t.Fatalf("got %d %q, want 200 \"ok\"", resp.StatusCode, body)
			}
			if got := farm.Proxies[0].Connects(); got != 1 {
				t.Errorf("the proxy saw %d CONNECTs, want 1", got)
			}
			if got := p.Stats().Tunnels; got != 1 {
				t.Errorf("Stats().Tunnels = %d, want 1", got)
			}
			for _, a := range c.Recorder().Attempts(0) {
				if a.Class != coord.ClassSuccess {
					t.Errorf("attempt %+v counted against the proxy", a)
				}
			}
		})
	}
}
