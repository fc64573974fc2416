package coord

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/proxywhirl/retrycoord/internal/testproxy"
	"github.com/proxywhirl/retrycoord/policy"
	"github.com/proxywhirl/retrycoord/state"
)

func TestSiteOf(t *testing.T) {
	tests := []struct{ host, want string }{
		{"www.example.com", "example.com"},
		{"a.b.example.co.uk:8443", "example.co.uk"},
		{"Example.COM.", "example.com"},
		{"127.0.0.1:8080", "127.0.0.1"},
		{"[::1]:443", "::1"},
		{"localhost:3000", "localhost"},
		{"co.uk", "co.uk"},
		{"", ""},
	}
	for _, tt := range tests {
		if got := SiteOfHost(tt.host); got != tt.want {
			t.Errorf("SiteOfHost(%q) = %q, want %q", tt.host, got, tt.want)
		}
	}
}

// TestBlameOf: what only the proxy can cause lands on the proxy; the rest
// on the (proxy, site) pair.
func TestBlameOf(t *testing.T) {
	tests := []struct {
		name   string
		class  Class
		reason Reason
		err    error
		want   state.Level
	}{
		{"connect refused", ClassFailure, ReasonConnect, errors.New("dial tcp: connection refused"), state.LevelProxy},
		{"407", ClassFailure, ReasonProxyAuth, nil, state.LevelProxy},
		{"timeout before sending", ClassFailure, ReasonTimeout, NotSent(context.DeadlineExceeded), state.LevelProxy},
		{"CONNECT refused", ClassFailure, ReasonStatus, &ConnectError{StatusCode: 503}, state.LevelProxy},
		{"ban", ClassBan, ReasonBan, &StatusError{Code: 403, Class: ClassBan}, state.LevelPair},
		{"site's 503", ClassFailure, ReasonStatus, &StatusError{Code: 503}, state.LevelPair},
		{"timeout through the proxy", ClassFailure, ReasonTimeout, context.DeadlineExceeded, state.LevelPair},
		{"the proxy reports the target failed", ClassTarget, ReasonTarget, &ConnectError{StatusCode: 502}, state.LevelPair},
	}
	for _, tt := range tests {
		if got := blameOf(tt.class, tt.reason, tt.err); got != tt.want {
			t.Errorf("%s: blame %v, want %v", tt.name, got, tt.want)
		}
	}
}

// siteByPort makes every test origin (all on 127.0.0.1) a site of its own.
func siteByPort(r *http.Request) string { return strings.ReplaceAll(r.URL.Host, ":", "-") }

// TestSiteBanLeavesOtherSites: a site that answers 403 to everyone takes
// no proxy away from the other sites: they keep 100% success through the
// same pool, and no proxy's breaker opens. The banning site itself opens
// as a site (it fails through every proxy), not per proxy.
func TestSiteBanLeavesOtherSites(t *testing.T) {
	farm := testproxy.Start(t, 10)
	banned, healthy := testproxy.NewOrigin(t), testproxy.NewOrigin(t)
	banned.Handle(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(403) }))
	c, cl := setup(t, farm, Config{Site: siteByPort, Document: policy.Document{Retry: fastRetry()}})
	for range 40 {
		_, _, _ = get(t, cl, context.Background(), banned.URL)
	}
	for i := range 20 {
		resp, _, err := get(t, cl, context.Background(), healthy.URL)
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("request %d to the healthy site: %v %v", i, resp, err)
		}
	}
	for _, p := range farm.Proxies {
		if got := c.Table().State(keyOf(p)); got != state.PhaseClosed {
			t.Errorf("proxy %s: %v, want closed", keyOf(p), got)
		}
	}
	site := siteByPort(&http.Request{URL: mustURL(t, banned.URL)})
	if got := c.Table().StateAt(state.SiteKey(site)); got != state.PhaseOpen {
		t.Errorf("the banning site: %v, want open", got)
	}
}

// TestSiteDownFailsFast: a site that is down for everyone opens; its
// requests then fail at once with ErrSiteUnavailable, no proxy asked; after
// the open time one probe finds it back and closes it.
func TestSiteDownFailsFast(t *testing.T) {
	tb, clk := fakeTable(t)
	farm := testproxy.Start(t, 6)
	origin := testproxy.NewOrigin(t)
	var down atomic.Bool
	down.Store(true)
	origin.Handle(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if down.Load() {
			w.WriteHeader(503)
			return
		}
		_, _ = w.Write([]byte("ok"))
	}))
	c, cl := setup(t, farm, Config{Table: tb, Site: siteByPort, Document: policy.Document{Retry: fastRetry()}})
	site := siteByPort(&http.Request{URL: mustURL(t, origin.URL)})
	for i := 0; tb.StateAt(state.SiteKey(site)) != state.PhaseOpen; i++ {
		if i == 10 {
			t.Fatalf("the site did not open after %d requests", i)
		}
		_, _, _ = get(t, cl, context.Background(), origin.URL)
	}
	before := farm.Requests()
	_, _, err := get(t, cl, context.Background(), origin.URL)
	if !errors.Is(err, ErrSiteUnavailable) {
		t.Fatalf("err = %v, want ErrSiteUnavailable", err)
	}
	if !strings.Contains(err.Error(), "failing through") {
		t.Errorf("err = %q, want the site's reason", err)
	}
	if got := farm.Requests() - before; got != 0 {
		t.Errorf("proxies saw %d requests for the open site, want 0", got)
	}
	for _, p := range farm.Proxies {
		if got := tb.State(keyOf(p)); got != state.PhaseClosed {
			t.Errorf("proxy %s: %v, want closed", keyOf(p), got)
		}
	}
	down.Store(false)
	clk.Advance(31 * time.Second)
	before = farm.Requests()
	resp, _, err := get(t, cl, context.Background(), origin.URL)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("probe: %v %v, want 200", resp, err)
	}
	if got := farm.Requests() - before; got != 1 {
		t.Errorf("the probe took %d attempts, want 1", got)
	}
	if got := tb.StateAt(state.SiteKey(site)); got != state.PhaseClosed {
		t.Errorf("site %v after a successful probe, want closed", got)
	}
	_ = c
}

// TestDeadProxyOpensOnce: a proxy that refuses connections opens at the
// proxy level, once, whatever the sites; no pair is created for it.
func TestDeadProxyOpensOnce(t *testing.T) {
	farm := testproxy.Start(t, 1)
	farm.Proxies[0].Set(testproxy.Refuse())
	origins := make([]*testproxy.Origin, 5)
	for i := range origins {
		origins[i] = testproxy.NewOrigin(t)
	}
	rp := fastRetry()
	rp.MaxAttempts = 1
	c, cl := setup(t, farm, Config{Site: siteByPort, Document: policy.Document{Retry: rp}})
	for _, o := range origins {
		_, _, _ = get(t, cl, context.Background(), o.URL)
	}
	if got := c.Table().State(keyOf(farm.Proxies[0])); got != state.PhaseOpen {
		t.Fatalf("proxy: %v, want open", got)
	}
	if st := c.Table().Stats(); st.Pairs != 0 || st.Breakers != 1 {
		t.Errorf("pairs %d, breakers %d; want 0 and 1 (the proxy)", st.Pairs, st.Breakers)
	}
}

// TestKeyingProxy: KeyingProxy keeps the behaviour before sites: a site's
// failures open the proxy.
func TestKeyingProxy(t *testing.T) {
	farm := testproxy.Start(t, 1)
	origin := testproxy.NewOrigin(t)
	origin.Handle(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(503) }))
	c, cl := setup(t, farm, Config{Keying: KeyingProxy, Document: policy.Document{Retry: fastRetry()}})
	for range 2 {
		_, _, _ = get(t, cl, context.Background(), origin.URL)
	}
	if got := c.Table().State(keyOf(farm.Proxies[0])); got != state.PhaseOpen {
		t.Errorf("proxy: %v, want open", got)
	}
	if got := c.Table().Stats().Pairs; got != 0 {
		t.Errorf("pairs = %d, want 0", got)
	}
}

// TestWithSite: a request's own site wins over the derived one; a manual
// trip of that site fails it fast.
func TestWithSite(t *testing.T) {
	farm := testproxy.Start(t, 2)
	c, _ := setup(t, farm, Config{})
	c.Table().TripAt(state.SiteKey("vendor-x"), time.Minute, "")
	ctx := WithSite(context.Background(), "vendor-x")
	_, err := c.Do(ctx, func(ctx context.Context, u *Upstream) (*http.Response, error) {
		t.Fatal("an attempt was made for a tripped site")
		return nil, nil
	})
	if !errors.Is(err, ErrSiteUnavailable) {
		t.Fatalf("err = %v, want ErrSiteUnavailable", err)
	}
	if _, err := c.Select(ctx); !errors.Is(err, ErrSiteUnavailable) {
		t.Errorf("Select: %v, want ErrSiteUnavailable", err)
	}
	if _, err := c.Select(WithSite(context.Background(), "other")); err != nil {
		t.Errorf("Select for another site: %v", err)
	}
}

func mustURL(t testing.TB, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// TestSiteBansHalf: a site that bans half the pool opens those pairs only:
// the site stays usable through the other half (retries find them), and no
// proxy opens for what one site did.
func TestSiteBansHalf(t *testing.T) {
	farm := testproxy.Start(t, 6)
	origin, other := testproxy.NewOrigin(t), testproxy.NewOrigin(t)
	target := strings.TrimPrefix(origin.URL, "http://")
	for _, p := range farm.Proxies[:3] {
		p.Set(testproxy.BanOnly(target, 403))
	}
	rp := fastRetry()
	rp.MaxAttempts = 4 // at most three banned proxies in a row
	// Round-robin: every proxy gets its turns, whatever the scores.
	doc := policy.Document{Retry: rp, Select: policy.SelectPolicy{Strategy: policy.StrategyRoundRobin}}
	c, cl := setup(t, farm, Config{Site: siteByPort, Document: doc})
	for i := range 60 {
		resp, _, err := get(t, cl, context.Background(), origin.URL)
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("request %d to the half-banning site: %v %v", i, resp, err)
		}
	}
	site := siteByPort(&http.Request{URL: mustURL(t, origin.URL)})
	for i, p := range farm.Proxies {
		if got := c.Table().State(keyOf(p)); got != state.PhaseClosed {
			t.Errorf("proxy %d: %v, want closed", i, got)
		}
		want := state.PhaseClosed
		if i < 3 {
			want = state.PhaseOpen
		}
		if got := c.Table().StateAt(state.PairKey(keyOf(p), site)); got != want {
			t.Errorf("pair of proxy %d: %v, want %v", i, got, want)
		}
	}
	if got := c.Table().StateAt(state.SiteKey(site)); got != state.PhaseClosed {
		t.Errorf("site: %v, want closed", got)
	}
	for i := range 20 {
		if _, _, err := get(t, cl, context.Background(), other.URL); err != nil {
			t.Fatalf("request %d to another site: %v", i, err)
		}
	}
}

// TestSelectionScoresForTheSite: the best strategy scores a proxy for the
// request's site by its pair's outcomes when it has some: a proxy failing
// one site (below its threshold) loses that site's traffic, not the
// others'.
func TestSelectionScoresForTheSite(t *testing.T) {
	c := newTestCoord(t, policy.SelectPolicy{Strategy: policy.StrategyBest},
		PoolEntry{URL: "http://10.0.0.1:8080"}, PoolEntry{URL: "http://10.0.0.2:8080"})
	a, b := c.Upstreams()[0], c.Upstreams()[1]
	feed(a, 10, 10, time.Millisecond)
	feed(b, 10, 9, time.Millisecond) // a is the better proxy overall
	tb := c.Table()
	for i := range 4 { // a fails x.com 3 times in 4: its pair, below the threshold, scores 0.25
		var s state.Scoped
		if _, err := tb.AdmitScoped(&s, a.Key(), "x.com"); err != nil {
			t.Fatal(err)
		}
		out := state.OutcomeFailure
		if i == 3 {
			out = state.OutcomeSuccess
		}
		tb.SettleScoped(&s, out, state.LevelPair, 0)
	}
	sp := c.pol.Load().sel
	pick := func(site string) *Upstream {
		return c.sel.pick(c.pool.load().list, &sp, "", site, nil, time.Now().UnixNano())
	}
	if got := pick("x.com"); got != b {
		t.Errorf("for x.com: %s, want %s (a fails it)", got.Key(), b.Key())
	}
	if got := pick("y.com"); got != a {
		t.Errorf("for y.com: %s, want %s (the better proxy)", got.Key(), a.Key())
	}
}
