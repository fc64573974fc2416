package forward

// The interop suite: real proxies from Debian's packages (squid, tinyproxy,
// dante), started by internal/realproxy, driven through both roads a
// request can take: coord.Transport in a Go program, and the agent's
// forward proxy. A missing proxy fails the suite (make test installs them).

import (
	"cmp"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/proxywhirl/retrycoord/coord"
	"github.com/proxywhirl/retrycoord/internal/realproxy"
	"github.com/proxywhirl/retrycoord/policy"
	"github.com/proxywhirl/retrycoord/state"
)

// echo answers "METHOD body ua=<User-Agent or none>", so a test sees what
// the origin got.
func echo(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	ua := "none"
	if v, ok := r.Header["User-Agent"]; ok {
		ua = strings.Join(v, ",")
	}
	w.Header().Set("Content-Type", "text/plain")
	_, _ = fmt.Fprintf(w, "%s %s ua=%s", r.Method, b, ua)
}

// origins starts a plain and a TLS echo origin, closed by t.Cleanup.
func origins(t *testing.T) (plainURL string, tlsSrv *httptest.Server) {
	t.Helper()
	p := httptest.NewServer(http.HandlerFunc(echo))
	t.Cleanup(p.Close)
	s := httptest.NewTLSServer(http.HandlerFunc(echo))
	t.Cleanup(s.Close)
	return p.URL, s
}

// road is one way a request reaches the coordinator.
type road struct {
	name string
	// client returns an http.Client whose requests go through c, trusting
	// tlsCfg for https origins.
	client func(t *testing.T, c *coord.Coordinator, tlsCfg *tls.Config) *http.Client
}

var roads = []road{
	{"transport", func(t *testing.T, c *coord.Coordinator, tlsCfg *tls.Config) *http.Client {
		base := defaultTransport(5 * time.Second)
		base.TLSClientConfig = tlsCfg
		rt := c.Transport(base)
		t.Cleanup(rt.(interface{ CloseIdleConnections() }).CloseIdleConnections)
		return &http.Client{Transport: rt, Timeout: 20 * time.Second}
	}},
	{"forward", func(t *testing.T, c *coord.Coordinator, tlsCfg *tls.Config) *http.Client {
		_, purl := serve(t, Config{Coordinator: c, DialTimeout: 5 * time.Second, ConnectTimeout: 5 * time.Second})
		cl := client(t, purl, tlsCfg, true)
		cl.Timeout = 20 * time.Second
		cl.Transport = noUA{cl.Transport}
		return cl
	}},
}

// noUA keeps net/http from adding its User-Agent to requests that have
// none, as a client that sends none would.
type noUA struct{ http.RoundTripper }

func (n noUA) RoundTrip(r *http.Request) (*http.Response, error) {
	if _, ok := r.Header["User-Agent"]; !ok {
		r = r.Clone(r.Context())
		r.Header["User-Agent"] = []string{""}
	}
	return n.RoundTripper.RoundTrip(r)
}

// interopCoord returns a coordinator over urls with fast retries and the
// given selection strategy ("" for the default).
func interopCoord(t *testing.T, strategy policy.Strategy, urls ...string) *coord.Coordinator {
	t.Helper()
	doc := policy.Document{Retry: fastRetry()}
	doc.Select.Strategy = strategy
	// Every loopback origin is a site of its own (host and port), as
	// distinct sites would be.
	site := func(r *http.Request) string { return strings.ReplaceAll(cmp.Or(r.URL.Host, r.Host), ":", "-") }
	c, err := coord.New(coord.Config{Pool: coord.Entries(urls...), Document: doc, Site: site})
	if err != nil {
		t.Fatalf("coord.New: %v", err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func send(t *testing.T, cl *http.Client, method, u, body string) (*http.Response, string, error) {
	t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, u, r)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := cl.Do(req)
	if err != nil {
		return nil, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp, string(b), err
}

// attemptsOn returns the recorded attempts through upstream key.
func attemptsOn(c *coord.Coordinator, key string) []coord.Attempt {
	var out []coord.Attempt
	for _, a := range c.Recorder().Attempts(0) {
		if a.Upstream == key {
			out = append(out, a)
		}
	}
	return out
}

func TestInteropBasics(t *testing.T) {
	plainURL, tlsSrv := origins(t)
	tlsCfg := tlsSrv.Client().Transport.(*http.Transport).TLSClientConfig
	proxies := []*realproxy.Proxy{
		realproxy.Squid(t, realproxy.SquidConfig{}),
		realproxy.Tinyproxy(t),
		realproxy.Dante(t, realproxy.DanteConfig{}),
	}
	for _, px := range proxies {
		for _, rd := range roads {
			t.Run(px.Name()+"/"+rd.name, func(t *testing.T) {
				c := interopCoord(t, 0, px.URL())
				cl := rd.client(t, c, tlsCfg)
				for _, tc := range []struct{ method, url, body, want string }{
					{"GET", plainURL + "/get", "", "GET  ua=none"},
					{"POST", plainURL + "/post", "hello body", "POST hello body ua=none"},
					{"GET", tlsSrv.URL + "/tunnel", "", "GET  ua=none"},
				} {
					resp, body, err := send(t, cl, tc.method, tc.url, tc.body)
					if err != nil {
						t.Fatalf("%s %s: %v (proxy log: %s)", tc.method, tc.url, err, px.Log())
					}
					if resp.StatusCode != 200 || body != tc.want {
						t.Errorf("%s %s: %d %q, want 200 %q", tc.method, tc.url, resp.StatusCode, body, tc.want)
					}
				}
				for _, a := range c.Recorder().Attempts(0) {
					if a.Class != coord.ClassSuccess {
						t.Errorf("attempt %d of request %d: %v/%v %s", a.Attempt, a.RequestID, a.Class, a.Reason, a.Err)
					}
				}
			})
		}
	}
}

// TestInteropTinyproxyPOSTs: tinyproxy closes every connection after its
// answer without saying so; 300 POSTs at concurrency 4 are all answered by
// the origin and its breaker stays closed.
func TestInteropTinyproxyPOSTs(t *testing.T) {
	plainURL, _ := origins(t)
	tp := realproxy.Tinyproxy(t)
	for _, rd := range roads {
		t.Run(rd.name, func(t *testing.T) {
			c := interopCoord(t, 0, tp.URL())
			cl := rd.client(t, c, nil)
			const total, workers = 300, 4
			var (
				mu   sync.Mutex
				bad  []string
				wg   sync.WaitGroup
				jobs = make(chan int)
			)
			for range workers {
				wg.Go(func() {
					for i := range jobs {
						want := fmt.Sprintf("POST n=%d ua=none", i)
						resp, body, err := send(t, cl, http.MethodPost, plainURL+"/post", fmt.Sprintf("n=%d", i))
						if err != nil || resp.StatusCode != 200 || body != want {
							mu.Lock()
							bad = append(bad, fmt.Sprintf("POST %d: %v %v %q", i, err, resp != nil && resp.StatusCode == 200, body))
							mu.Unlock()
						}
					}
				})
			}
			for i := range total {
				jobs <- i
			}
			close(jobs)
			wg.Wait()
			if len(bad) > 0 {
				t.Errorf("%d of %d POSTs not answered by the origin, e.g. %s", len(bad), total, bad[0])
			}
			if got := c.Table().State(tp.URL()); got != state.PhaseClosed {
				t.Errorf("tinyproxy's breaker is %v, want closed", got)
			}
			for _, a := range attemptsOn(c, tp.URL()) {
				if a.Class == coord.ClassFailure || a.Class == coord.ClassBan {
					t.Errorf("attempt counted against tinyproxy: %v/%v %s", a.Class, a.Reason, a.Err)
					break
				}
			}
		})
	}
}

// deadTarget returns the URL of a loopback port nobody listens on.
func deadTarget(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	return "http://" + addr + "/"
}

// TestInteropSquidDeadTarget: squid's own 503 for a target nobody listens
// on says the target failed (X-Squid-Error); it lands on the (squid, site)
// pair, which opens after the threshold (5 of each dead site's 6
// attempts); squid's breaker stays closed and the next request to a
// healthy site goes through it.
func TestInteropSquidDeadTarget(t *testing.T) {
	plainURL, _ := origins(t)
	sq := realproxy.Squid(t, realproxy.SquidConfig{})
	dead := deadTarget(t)
	deadTLS := strings.Replace(deadTarget(t), "http://", "https://", 1)
	for _, rd := range roads {
		t.Run(rd.name, func(t *testing.T) {
			c := interopCoord(t, 0, sq.URL())
			cl := rd.client(t, c, nil)
			// 2 requests × 3 attempts, plain and through CONNECT: more
			// failures than the threshold (5) each way.
			for _, u := range []string{dead, deadTLS, dead, deadTLS} {
				resp, _, err := send(t, cl, http.MethodGet, u, "")
				if err == nil && resp.StatusCode == 200 {
					t.Fatalf("a dead target answered 200")
				}
			}
			for _, a := range attemptsOn(c, sq.URL()) {
				if a.Class != coord.ClassTarget || a.Reason != coord.ReasonTarget {
					t.Errorf("attempt %d of request %d: %v/%v (%s), want target/target", a.Attempt, a.RequestID, a.Class, a.Reason, a.Err)
				}
			}
			if n := len(attemptsOn(c, sq.URL())); n != 10 {
				t.Errorf("%d attempts, want 10", n)
			}
			for _, u := range []string{dead, deadTLS} {
				site := strings.ReplaceAll(strings.TrimSuffix(u[strings.Index(u, "//")+2:], "/"), ":", "-")
				if got := c.Table().StateAt(state.PairKey(sq.URL(), site)); got != state.PhaseOpen {
					t.Errorf("the pair (squid, %s) is %v, want open", site, got)
				}
			}
			if got := c.Table().State(sq.URL()); got != state.PhaseClosed {
				t.Fatalf("squid's breaker is %v after a dead target, want closed", got)
			}
			resp, body, err := send(t, cl, http.MethodGet, plainURL+"/after", "")
			if err != nil || resp.StatusCode != 200 || body != "GET  ua=none" {
				t.Fatalf("healthy site after a dead one: %v %q", err, body)
			}
		})
	}
}

// TestInteropProxyKilled: one of two squids is killed mid-run; every
// request still succeeds through the other (failover), and the dead one's
// breaker opens.
func TestInteropProxyKilled(t *testing.T) {
	plainURL, tlsSrv := origins(t)
	tlsCfg := tlsSrv.Client().Transport.(*http.Transport).TLSClientConfig
	for _, rd := range roads {
		t.Run(rd.name, func(t *testing.T) {
			victim, other := realproxy.Tinyproxy(t), realproxy.Squid(t, realproxy.SquidConfig{})
			// Round-robin, so that the dead proxy keeps being chosen first
			// until its breaker opens.
			c := interopCoord(t, policy.StrategyRoundRobin, victim.URL(), other.URL())
			cl := rd.client(t, c, tlsCfg)
			for _, u := range []string{plainURL, tlsSrv.URL} {
				if resp, _, err := send(t, cl, http.MethodGet, u+"/before", ""); err != nil || resp.StatusCode != 200 {
					t.Fatalf("before the kill: %v", err)
				}
			}
			victim.Kill(t)
			for i := 0; c.Table().State(victim.URL()) != state.PhaseOpen; i++ {
				if i == 40 {
					t.Fatalf("the killed proxy's breaker is %v after %d requests, want open", c.Table().State(victim.URL()), i)
				}
				u := plainURL
				if i%2 == 1 {
					u = tlsSrv.URL
				}
				resp, body, err := send(t, cl, http.MethodPost, u+"/after", "x")
				if err != nil || resp.StatusCode != 200 || body != "POST x ua=none" {
					t.Fatalf("request %d after the kill: %v %q", i, err, body)
				}
			}
		})
	}
}

// TestInteropSquidAuth: a wrong password gets squid's real 407, which is
// proxy_auth and not retried on that proxy; the right one works.
func TestInteropSquidAuth(t *testing.T) {
	plainURL, tlsSrv := origins(t)
	tlsCfg := tlsSrv.Client().Transport.(*http.Transport).TLSClientConfig
	sq := realproxy.Squid(t, realproxy.SquidConfig{Users: map[string]string{"alice": "pw-squid-right"}})
	for _, rd := range roads {
		for _, target := range []string{plainURL, tlsSrv.URL} {
			t.Run(rd.name+"/"+target[:strings.Index(target, ":")], func(t *testing.T) {
				wrong := sq.URLWith("alice", "pw-squid-wrong")
				c := interopCoord(t, 0, wrong)
				cl := rd.client(t, c, tlsCfg)
				resp, body, err := send(t, cl, http.MethodGet, target+"/x", "")
				if err == nil && resp.StatusCode == 200 {
					t.Fatalf("a wrong password got through: %q", body)
				}
				if strings.Contains(body, "pw-squid-wrong") || (err != nil && strings.Contains(err.Error(), "pw-squid-wrong")) {
					t.Errorf("the password was echoed: %v %q", err, body)
				}
				as := c.Recorder().Attempts(0)
				if len(as) != 1 || as[0].Reason != coord.ReasonProxyAuth {
					t.Fatalf("attempts %+v, want one proxy_auth (not retried on that proxy)", as)
				}

				right := interopCoord(t, 0, sq.URLWith("alice", "pw-squid-right"))
				resp, body, err = send(t, rd.client(t, right, tlsCfg), http.MethodGet, target+"/x", "")
				if err != nil || resp.StatusCode != 200 || body != "GET  ua=none" {
					t.Fatalf("the right password: %v %q", err, body)
				}
			})
		}
	}
}

// TestInteropDanteAuth: dante's username method with the right and a
// wrong password; a SOCKS5 authentication failure is proxy_auth, like a
// 407, and not retried on that proxy.
func TestInteropDanteAuth(t *testing.T) {
	plainURL, tlsSrv := origins(t)
	tlsCfg := tlsSrv.Client().Transport.(*http.Transport).TLSClientConfig
	dt := realproxy.Dante(t, realproxy.DanteConfig{Auth: true})
	for _, rd := range roads {
		t.Run(rd.name, func(t *testing.T) {
			right := interopCoord(t, 0, dt.URLWith(realproxy.DanteUser, realproxy.DantePassword))
			cl := rd.client(t, right, tlsCfg)
			for _, u := range []string{plainURL, tlsSrv.URL} {
				resp, body, err := send(t, cl, http.MethodGet, u+"/x", "")
				if err != nil || resp.StatusCode != 200 || body != "GET  ua=none" {
					t.Fatalf("%s with the right password: %v %q (dante log: %s)", u, err, body, dt.Log())
				}
			}
			for _, creds := range []string{realproxy.DanteUser + ":wrong-pw@", ""} {
				c := interopCoord(t, 0, strings.Replace(dt.URL(), "socks5://", "socks5://"+creds, 1))
				resp, body, err := send(t, rd.client(t, c, tlsCfg), http.MethodGet, tlsSrv.URL+"/x", "")
				if err == nil && resp.StatusCode == 200 {
					t.Fatalf("creds %q got through: %q", creds, body)
				}
				as := c.Recorder().Attempts(0)
				if len(as) != 1 || as[0].Reason != coord.ReasonProxyAuth {
					t.Fatalf("creds %q: attempts %+v, want one proxy_auth", creds, as)
				}
			}
		})
	}
}
