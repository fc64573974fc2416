package forward

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/proxywhirl/retrycoord/coord"
	"github.com/proxywhirl/retrycoord/internal/testproxy"
	"github.com/proxywhirl/retrycoord/state"
)

// TestOpenSiteIs503WithReason: a request, or a CONNECT, for an open site
// is answered 503 at once with the site and why it is open; no proxy is
// asked.
func TestOpenSiteIs503WithReason(t *testing.T) {
	farm := testproxy.Start(t, 2)
	origin := testproxy.NewOrigin(t)
	c := newCoord(t, farm.URLs()...)
	site := coord.SiteOfHost(strings.TrimPrefix(origin.URL, "http://")) // 127.0.0.1
	c.Table().TripAt(state.SiteKey(site), time.Minute, "failing through 5 proxies")
	_, purl := serve(t, Config{Coordinator: c})
	resp, body := get(t, client(t, purl, nil, true), origin.URL)
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("status %d, want 503", resp.StatusCode)
	}
	if want := "site " + site + " unavailable: failing through 5 proxies"; !strings.Contains(body, want) {
		t.Errorf("body %q, want %q", body, want)
	}
	if got := resp.Header.Get(coord.HeaderAttempts); got != "0" {
		t.Errorf("attempts %q, want 0", got)
	}
	tlsOrigin := testproxy.NewTLSOrigin(t)
	// net/http reports a refused CONNECT by its status text.
	if r, err := client(t, purl, originTLS(tlsOrigin), true).Get(tlsOrigin.URL); err == nil || !strings.Contains(err.Error(), "Service Unavailable") {
		if r != nil {
			_ = r.Body.Close()
		}
		t.Errorf("CONNECT to the open site: %v, want 503 Service Unavailable", err)
	}
	if farm.Requests() != 0 {
		t.Errorf("proxies saw %d requests for an open site, want 0", farm.Requests())
	}
}
