package forward

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/proxywhirl/retrycoord/coord"
	"github.com/proxywhirl/retrycoord/internal/testproxy"
	"github.com/proxywhirl/retrycoord/internal/testutil"
)

func keyOf(p *testproxy.Proxy) string { return "http://" + p.Addr() }

func TestForwardHTTP(t *testing.T) {
	farm := testproxy.Start(t, 1)
	origin := testproxy.NewOrigin(t)
	_, purl := serve(t, Config{Coordinator: newCoord(t, farm.URLs()...)})
	cl := client(t, purl, nil, true)
	for i := range 3 { // the second and third reuse connections
		resp, body := get(t, cl, origin.URL+"/x")
		if resp.StatusCode != 200 || body != "ok" {
			t.Fatalf("request %d: %d %q, want 200 \"ok\"", i, resp.StatusCode, body)
		}
		got := map[string]string{
			"attempts": resp.Header.Get(coord.HeaderAttempts),
			"upstream": resp.Header.Get(coord.HeaderUpstream),
			"type":     resp.Header.Get("Content-Type"),
			"via":      resp.Header.Get("Via"),
		}
		want := map[string]string{"attempts": "1", "upstream": keyOf(farm.Proxies[0]),
			"type": "text/plain; charset=utf-8", "via": "1.1 retrycoord"}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Fatalf("request %d headers (-want +got):\n%s", i, diff)
		}
	}
	if got := origin.Requests(); got != 3 {
		t.Errorf("origin saw %d requests, want 3", got)
	}
}

func TestForwardFailover(t *testing.T) {
	tests := []struct {
		name   string
		faults []testproxy.Fault // the last proxy stays healthy
	}{
		{"502 and refuse", []testproxy.Fault{testproxy.Status(502), testproxy.Refuse()}},
		{"407 and 503", []testproxy.Fault{testproxy.ProxyAuth(), testproxy.Status(503)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			farm := testproxy.Start(t, len(tt.faults)+1)
			for i, f := range tt.faults {
				farm.Proxies[i].Set(f)
			}
			good := farm.Proxies[len(tt.faults)]
			origin := testproxy.NewOrigin(t)
			_, purl := serve(t, Config{Coordinator: newCoord(t, farm.URLs()...)})
			cl := client(t, purl, nil, true)
			for i := range 3 {
				resp, body := get(t, cl, origin.URL)
				if resp.StatusCode != 200 || body != "ok" {
					t.Fatalf("request %d: %d %q, want 200 \"ok\"", i, resp.StatusCode, body)
				}
				if got := resp.Header.Get(coord.HeaderUpstream); got != keyOf(good) {
					t.Errorf("request %d: upstream %q, want %q", i, got, keyOf(good))
				}
				if a := resp.Header.Get(coord.HeaderAttempts); a < "1" || a > "3" {
					t.Errorf("request %d: attempts %q, want 1–3", i, a)
				}
			}
		})
	}
}

func TestForwardAllBroken(t *testing.T) {
	farm := testproxy.Start(t, 3)
	farm.Proxies[0].Set(testproxy.Status(502))
	farm.Proxies[1].Set(testproxy.Refuse())
	farm.Proxies[2].Set(testproxy.ProxyAuth())
	origin := testproxy.NewOrigin(t)
	p, purl := serve(t, Config{Coordinator: newCoord(t, farm.URLs()...)})
	resp, body := get(t, client(t, purl, nil, true), origin.URL)
	if resp.StatusCode != http.StatusBadGateway {
		t.Fatalf("status %d, want 502", resp.StatusCode)
	}
	if got := resp.Header.Get(coord.HeaderAttempts); got != "3" {
		t.Errorf("attempts %q, want 3", got)
	}
	if !strings.HasPrefix(body, "retrycoord: gave up after 3 attempts") {
		t.Errorf("body %q, want a give-up explanation", body)
	}
	if got := p.Stats().GaveUp; got != 1 {
		t.Errorf("Stats().GaveUp = %d, want 1", got)
	}
	if origin.Requests() != 0 {
		t.Errorf("origin saw %d requests, want 0", origin.Requests())
	}
}

func TestForwardNoneEligible(t *testing.T) {
	farm := testproxy.Start(t, 2)
	origin := testproxy.NewOrigin(t)
	c := newCoord(t, farm.URLs()...)
	for _, px := range farm.Proxies {
		c.Table().Trip(keyOf(px), time.Minute, "test")
	}
	p, purl := serve(t, Config{Coordinator: c})
	resp, body := get(t, client(t, purl, nil, true), origin.URL)
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("status %d, want 503", resp.StatusCode)
	}
	if got := resp.Header.Get(coord.HeaderAttempts); got != "0" {
		t.Errorf("attempts %q, want 0", got)
	}
	if !strings.Contains(body, "no eligible upstream") {
		t.Errorf("body %q, want an explanation", body)
	}
	if farm.Requests() != 0 || p.Stats().NoUpstream != 1 {
		t.Errorf("proxies saw %d requests, NoUpstream %d; want 0 and 1", farm.Requests(), p.Stats().NoUpstream)
	}
}

func TestOriginFormIsBadRequest(t *testing.T) {
	farm := testproxy.Start(t, 1)
	p, purl := serve(t, Config{Coordinator: newCoord(t, farm.URLs()...)})
	resp, body := get(t, &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}, purl+"/")
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "forward proxy") {
		t.Fatalf("got %d %q, want 400 with an explanation", resp.StatusCode, body)
	}
	if p.Stats().BadRequests != 1 || farm.Requests() != 0 {
		t.Errorf("BadRequests %d, upstream requests %d; want 1 and 0", p.Stats().BadRequests, farm.Requests())
	}
}

func TestHopByHopHeaders(t *testing.T) {
	var (
		mu   sync.Mutex
		seen http.Header
	)
	// A fake upstream proxy that records what it is sent and answers with
	// hop-by-hop fields of its own.
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = r.Header.Clone()
		mu.Unlock()
		h := w.Header()
		h.Set("Connection", "X-Resp-Hop")
		h.Set("X-Resp-Hop", "1")
		h.Set("Keep-Alive", "timeout=5")
		h.Set("Proxy-Authenticate", `Basic realm="upstream"`)
		h.Set("X-Kept", "yes")
		_, _ = io.WriteString(w, "fine")
	}))
	t.Cleanup(up.Close)
	_, purl := serve(t, Config{
		Coordinator: newCoord(t, up.URL),
		ClientAuth:  Credentials{User: "alice", Password: "s3cret"},
	})
	cl := client(t, strings.Replace(purl, "http://", "http://alice:s3cret@", 1), nil, true)
	req, _ := http.NewRequest(http.MethodGet, "http://example.test/page", nil)
	req.Header.Set("Connection", "X-Secret, keep-alive")
	req.Header.Set("X-Secret", "1")
	req.Header.Set("Keep-Alive", "300")
	req.Header.Set("Te", "trailers")
	req.Header.Set("Proxy-Connection", "keep-alive")
	req.Header.Set("X-Keep", "yes")
	resp, body := do(t, cl, req)
	if resp.StatusCode != 200 || body != "fine" {
		t.Fatalf("got %d %q, want 200 \"fine\"", resp.StatusCode, body)
	}
	mu.Lock()
	defer mu.Unlock()
	for _, k := range []string{"Connection", "X-Secret", "Keep-Alive", "Te", "Proxy-Connection", "Proxy-Authorization"} {
		if v, ok := seen[k]; ok {
			t.Errorf("upstream got %s: %q, want it removed", k, v)
		}
	}
	if seen.Get("X-Keep") != "yes" || seen.Get("Via") != "1.1 retrycoord" {
		t.Errorf("upstream got X-Keep %q, Via %q; want \"yes\", \"1.1 retrycoord\"", seen.Get("X-Keep"), seen.Get("Via"))
	}
	for _, k := range []string{"X-Resp-Hop", "Keep-Alive", "Proxy-Authenticate"} {
		if v, ok := resp.Header[k]; ok {
			t.Errorf("client got %s: %q, want it removed", k, v)
		}
	}
	if resp.Header.Get("X-Kept") != "yes" || resp.Header.Get(coord.HeaderAttempts) != "1" {
		t.Errorf("client got X-Kept %q, attempts %q", resp.Header.Get("X-Kept"), resp.Header.Get(coord.HeaderAttempts))
	}
}

func TestClientAuth(t *testing.T) {
	farm := testproxy.Start(t, 1)
	origin := testproxy.NewOrigin(t)
	p, purl := serve(t, Config{
		Coordinator: newCoord(t, farm.URLs()...),
		ClientAuth:  Credentials{User: "alice", Password: "s3cret"},
	})
	tests := []struct {
		name  string
		creds string
		want  int
	}{
		{"missing", "", http.StatusProxyAuthRequired},
		{"wrong password", "alice:nope@", http.StatusProxyAuthRequired},
		{"wrong user", "bob:s3cret@", http.StatusProxyAuthRequired},
		{"right", "alice:s3cret@", http.StatusOK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cl := client(t, strings.Replace(purl, "http://", "http://"+tt.creds, 1), nil, true)
			resp, _ := get(t, cl, origin.URL)
			if resp.StatusCode != tt.want {
				t.Fatalf("status %d, want %d", resp.StatusCode, tt.want)
			}
			if tt.want == http.StatusProxyAuthRequired {
				if got := resp.Header.Get("Proxy-Authenticate"); got != `Basic realm="retrycoord"` {
					t.Errorf("Proxy-Authenticate %q", got)
				}
			}
		})
	}
	if got := p.Stats().AuthFailures; got != 3 {
		t.Errorf("AuthFailures = %d, want 3", got)
	}
	if got := origin.Requests(); got != 1 {
		t.Errorf("origin saw %d requests, want 1", got)
	}
}

func TestPutBodyReplayed(t *testing.T) {
	farm := testproxy.Start(t, 2)
	origin := testproxy.NewOrigin(t)
	var (
		mu     sync.Mutex
		bodies []string
	)
	origin.Handle(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		bodies = append(bodies, string(b))
		first := len(bodies) == 1
		mu.Unlock()
		if first {
			http.Error(w, "try again", http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write(b)
	}))
	_, purl := serve(t, Config{Coordinator: newCoord(t, farm.URLs()...)})
	req, _ := http.NewRequest(http.MethodPut, origin.URL+"/doc", strings.NewReader("payload"))
	resp, body := do(t, client(t, purl, nil, true), req)
	if resp.StatusCode != 200 || body != "payload" {
		t.Fatalf("got %d %q, want 200 \"payload\"", resp.StatusCode, body)
	}
	if got := resp.Header.Get(coord.HeaderAttempts); got != "2" {
		t.Errorf("attempts %q, want 2", got)
	}
	mu.Lock()
	defer mu.Unlock()
	if diff := cmp.Diff([]string{"payload", "payload"}, bodies); diff != "" {
		t.Errorf("bodies the origin saw (-want +got):\n%s", diff)
	}
}

func TestClientCancelWritesNothing(t *testing.T) {
	farm := testproxy.Start(t, 1)
	farm.Proxies[0].Set(testproxy.Hang(10 * time.Second))
	origin := testproxy.NewOrigin(t)
	p, purl := serve(t, Config{Coordinator: newCoord(t, farm.URLs()...)})
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, origin.URL, nil)
	errc := make(chan error, 1)
	go func() {
		resp, err := client(t, purl, nil, false).Do(req)
		if err == nil {
			resp.Body.Close()
		}
		errc <- err
	}()
	testutil.Eventually(t, 5*time.Second, "the upstream to hold the request", func() bool { return farm.Requests() == 1 })
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Fatalf("client error %v, want context.Canceled", err)
	}
	testutil.Eventually(t, 5*time.Second, "the proxy to count the cancel", func() bool { return p.Stats().Canceled == 1 })
}

func TestNewErrors(t *testing.T) {
	if _, err := New(Config{}); err == nil {
		t.Error("New without Coordinator: nil error")
	}
	if _, err := New(Config{Coordinator: newCoord(t), DialTimeout: -1}); err == nil {
		t.Error("New with a negative timeout: nil error")
	}
}

// TestLastEligibleOpeningIs503: when the only upstream's breaker opens
// while a request waits to retry, the client gets 503 (no upstream), not
// 502 (gave up).
func TestLastEligibleOpeningIs503(t *testing.T) {
	farm := testproxy.Start(t, 1)
	farm.Proxies[0].Set(testproxy.Status(502))
	origin := testproxy.NewOrigin(t)
	p, purl := serve(t, Config{Coordinator: newCoord(t, farm.URLs()...)})
	cl := client(t, purl, nil, true)
	// 3 failures, below FailureThreshold (5): gave up.
	if resp, _ := get(t, cl, origin.URL); resp.StatusCode != http.StatusBadGateway {
		t.Fatalf("first request: %d, want 502", resp.StatusCode)
	}
	// The 5th failure opens the breaker before the 3rd attempt.
	resp, body := get(t, cl, origin.URL)
	if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(body, "no eligible upstream") {
		t.Fatalf("second request: %d %q, want 503 no eligible upstream", resp.StatusCode, body)
	}
	if s := p.Stats(); s.NoUpstream != 1 || s.GaveUp != 1 {
		t.Errorf("Stats %+v, want NoUpstream 1 and GaveUp 1", s)
	}
}
