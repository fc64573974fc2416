package forward

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/proxywhirl/retrycoord/coord"
	"github.com/proxywhirl/retrycoord/internal/testproxy"
	"github.com/proxywhirl/retrycoord/policy"
	"github.com/proxywhirl/retrycoord/state"
)

// siteByPort makes every test origin (all on localhost) a site of its own.
func siteByPort(r *http.Request) string { return strings.ReplaceAll(r.URL.Host, ":", "-") }

// TestInterceptSiteBanOpensTheSite: an HTTPS site that answers 403 to
// everyone, seen through the interception, opens as a site — its requests
// then fail fast, no proxy asked — while another HTTPS site keeps every
// proxy, and no proxy's breaker opens.
func TestInterceptSiteBanOpensTheSite(t *testing.T) {
	ca := testCA(t)
	banned := newNamedOrigin(t, func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusForbidden) })
	healthy := newNamedOrigin(t, scripted())
	roots := banned.Pool()
	roots.AddCert(healthy.Root.Certificate())
	farm := testproxy.Start(t, 10)
	c, err := coord.New(coord.Config{Pool: coord.Entries(farm.URLs()...), Document: policy.Document{Retry: fastRetry()}, Site: siteByPort})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	_, purl := serve(t, Config{Coordinator: c, Intercept: Interception{CA: ca, Roots: roots}})
	cl := client(t, purl, trusting(ca), true)

	site := siteByPort(&http.Request{URL: mustParse(t, banned.URL)})
	for i := 0; c.Table().StateAt(state.SiteKey(site)) != state.PhaseOpen; i++ {
		if i == 20 {
			t.Fatalf("the banning site did not open after %d requests", i)
		}
		get(t, cl, banned.URL)
	}
	attempts := len(c.Recorder().Attempts(0))
	resp, body := get(t, cl, banned.URL)
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get(coord.HeaderAttempts) != "0" || !strings.Contains(body, "site "+site) {
		t.Errorf("the open site: %d %q attempts %q; want 503 naming the site, no attempt", resp.StatusCode, body, resp.Header.Get(coord.HeaderAttempts))
	}
	if got := len(c.Recorder().Attempts(0)) - attempts; got != 0 {
		t.Errorf("the open site took %d attempts, want 0", got)
	}
	for i := range 20 {
		resp, body := get(t, cl, healthy.URL)
		if resp.StatusCode != 200 || body != "ok" || resp.Header.Get(coord.HeaderAttempts) != "1" {
			t.Fatalf("request %d to the other site: %d %q attempts %q", i, resp.StatusCode, body, resp.Header.Get(coord.HeaderAttempts))
		}
	}
	for _, px := range farm.Proxies {
		if got := c.Table().State(keyOf(px)); got != state.PhaseClosed {
			t.Errorf("proxy %s: %v, want closed", keyOf(px), got)
		}
	}
}

func mustParse(t *testing.T, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}
