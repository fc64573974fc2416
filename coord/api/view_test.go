package api

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/proxywhirl/retrycoord/coord"
	"github.com/proxywhirl/retrycoord/internal/testproxy"
	"github.com/proxywhirl/retrycoord/internal/testutil"
	"github.com/proxywhirl/retrycoord/policy"
	"github.com/proxywhirl/retrycoord/state"
)

func TestView(t *testing.T) {
	var f *fixture
	f = newFixture(t, Config{
		Version: "v-test",
		Members: MembersFunc(func() []Member {
			return []Member{
				{Name: "node-c", State: "alive"},
				{Name: f.c.Table().Node(), State: "alive"},
				{Name: "node-b", State: "suspect", Suspect: true},
			}
		}),
		ProbeOwner: func(key string) string { return "node-c" },
	})
	ctx := context.Background()
	tb := f.c.Table()

	// A trip from node-b that left it 80 ms ago.
	sent := time.Now().Add(-80 * time.Millisecond)
	rec := state.Record{Upstream: f.keys[0], Gen: 1, Phase: state.PhaseOpen, HLC: state.NewHLC(sent.UnixMilli(), 0),
		Origin: "node-b", OpenFor: 30 * time.Second, Reason: "from node-b"}
	merged := time.Now() // the open time runs from here on this node
	if !tb.Merge(rec, state.SourceGossip) {
		t.Fatal("the remote trip did not change the table")
	}
	// Ten attempts through the second proxy: nine fast successes, one slow failure.
	for i := range 10 {
		class, lat := coord.ClassSuccess, 10*time.Millisecond
		if i == 9 {
			class, lat = coord.ClassFailure, 200*time.Millisecond
		}
		if err := f.c.Report(f.keys[1], class, 502, lat); err != nil {
			t.Fatal(err)
		}
	}

	var v View
	testutil.Eventually(t, 5*time.Second, "the view has node-b's delay and the trip in its feed", func() bool {
		var err error
		v, err = f.cl.View(ctx)
		return err == nil && len(v.Members) == 3 && member(v, "node-b").Delay != nil && len(v.Feed) == 1
	})
	viewed := time.Now()
	if v.Node != tb.Node() || v.Version != "v-test" {
		t.Errorf("node %q version %q", v.Node, v.Version)
	}

	// Members: sorted, the answering node marked, node-b's delay measured
	// from its clock (at least the 80 ms it is old), none for node-c.
	var names []string
	for _, m := range v.Members {
		names = append(names, m.Name)
	}
	want := []string{"node-b", "node-c", tb.Node()}
	slices.Sort(want)
	if diff := cmp.Diff(want, names); diff != "" {
		t.Errorf("members (-want +got):\n%s", diff)
	}
	b := member(v, "node-b")
	if !b.Suspect || b.Self || b.Delay.Records != 1 || b.Delay.LastMS < 80 || b.Delay.P95MS != b.Delay.LastMS {
		t.Errorf("node-b: %+v, delay %+v: want suspect, one record at least 80 ms late", b, *b.Delay)
	}
	if c, self := member(v, "node-c"), member(v, tb.Node()); c.Delay != nil || !self.Self || self.Delay != nil {
		t.Errorf("node-c %+v, self %+v: want no delays", c, self)
	}

	// Breakers: the open one, its probe owner and when it may be probed.
	if len(v.Breakers) != 1 {
		t.Fatalf("breakers: %+v, want the one open", v.Breakers)
	}
	got := v.Breakers[0]
	if got.Upstream != f.keys[0] || got.Phase != "open" || got.Level != "proxy" || got.Origin != "node-b" ||
		got.Reason != "from node-b" || got.ProbeOwner != "node-c" ||
		got.ProbeAt.Before(merged.Add(30*time.Second-time.Millisecond)) || got.ProbeAt.After(viewed.Add(30*time.Second)) {
		t.Errorf("breaker %+v", got)
	}

	// Proxies: the pool in key order, the second with its figures.
	if len(v.Proxies) != 3 {
		t.Fatalf("proxies: %+v", v.Proxies)
	}
	for _, p := range v.Proxies {
		want := ProxyView{Upstream: p.Upstream}
		if p.Upstream == f.keys[1] {
			want = ProxyView{Upstream: p.Upstream, Attempts: 10, SuccessRate: 0.9, P95MS: 200}
		}
		if u := f.c.Upstream(p.Upstream); u != nil {
			want.Region = u.Region()
		}
		if diff := cmp.Diff(want, p); diff != "" {
			t.Errorf("proxy %s (-want +got):\n%s", p.Upstream, diff)
		}
	}

	// Feed: the transition, as gossip from node-b.
	if e := v.Feed[0]; e.Kind != "breaker" || e.Upstream != f.keys[0] || e.From != "closed" || e.To != "open" ||
		e.Source != "gossip" || e.Origin != "node-b" || e.Reason != "from node-b" {
		t.Errorf("feed: %+v", e)
	}
}

// member returns the member of v with the name, or a zero one.
func member(v View, name string) FleetMember {
	for _, m := range v.Members {
		if m.Name == name {
			return m
		}
	}
	return FleetMember{}
}

func TestDelayRing(t *testing.T) {
	ms := func(n ...int) []time.Duration {
		var out []time.Duration
		for _, x := range n {
			out = append(out, time.Duration(x)*time.Millisecond)
		}
		return out
	}
	many := make([]int, 100) // 1..100 ms: the ring keeps the last 64, 37..100
	for i := range many {
		many[i] = i + 1
	}
	tests := []struct {
		name string
		add  []time.Duration
		want Delay
	}{
		{"one", ms(7), Delay{Records: 1, LastMS: 7, P50MS: 7, P95MS: 7}},
		{"unsorted", ms(30, 10, 20), Delay{Records: 3, LastMS: 20, P50MS: 20, P95MS: 30}},
		{"wrapped", ms(many...), Delay{Records: 64, LastMS: 100, P50MS: 68, P95MS: 97}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var r delayRing
			for _, d := range tt.add {
				r.add(d)
			}
			if diff := cmp.Diff(tt.want, *r.summary()); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

// TestViewFeedKeepsTheLast200: the feed is a ring of the last FeedSize
// breaker transitions, oldest first.
func TestViewFeedKeepsTheLast200(t *testing.T) {
	f := newFixture(t, Config{})
	tb := f.c.Table()
	key := f.keys[2]
	// 205 transitions: trip (gen n, open), reset (gen n, closed), …, a last trip.
	for n := range 103 {
		tb.Trip(key, time.Minute, fmt.Sprintf("trip %d", n+1))
		if n < 102 {
			tb.Reset(key)
		}
	}
	var v View
	testutil.Eventually(t, 5*time.Second, "the feed holds the last trip", func() bool {
		var err error
		v, err = f.cl.View(context.Background())
		return err == nil && len(v.Feed) > 0 && v.Feed[len(v.Feed)-1].Gen == 103
	})
	if len(v.Feed) != FeedSize {
		t.Fatalf("feed of %d, want %d", len(v.Feed), FeedSize)
	}
	first, last := v.Feed[0], v.Feed[len(v.Feed)-1]
	if first.To != "closed" || first.Gen != 3 || last.To != "open" || last.Gen != 103 || last.Reason != "trip 103" {
		t.Errorf("feed from %+v to %+v, want from the third reset to the 103rd trip", first, last)
	}
}

// TestViewFiguresPerSite: a proxy's figures are over all its recent
// attempts, and per site over those that counted against the site.
func TestViewFiguresPerSite(t *testing.T) {
	f := newFixture(t, Config{})
	key := f.keys[1]
	report := func(site string, class coord.Class, status int, lat time.Duration) {
		t.Helper()
		if err := f.c.ReportAt(key, site, class, status, lat); err != nil {
			t.Fatal(err)
		}
	}
	for range 3 {
		report("shop.example", coord.ClassSuccess, 200, 10*time.Millisecond)
	}
	report("shop.example", coord.ClassFailure, 502, 300*time.Millisecond)
	report("api.example", coord.ClassSuccess, 200, 20*time.Millisecond)
	report("api.example", coord.ClassSuccess, 200, 30*time.Millisecond)
	report("", coord.ClassSuccess, 200, 5*time.Millisecond)

	v, err := f.cl.View(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range v.Proxies {
		want := ProxyView{Upstream: p.Upstream, Region: p.Region}
		if p.Upstream == key {
			want.Attempts, want.SuccessRate, want.P95MS = 7, 6.0/7, 300
			want.Sites = []SiteFigures{
				{Site: "api.example", Attempts: 2, SuccessRate: 1, P95MS: 30},
				{Site: "shop.example", Attempts: 4, SuccessRate: 0.75, P95MS: 300},
			}
		}
		if diff := cmp.Diff(want, p); diff != "" {
			t.Errorf("proxy %s (-want +got):\n%s", p.Upstream, diff)
		}
	}
}

// TestViewCountsReporters: an open breaker carries how many nodes'
// failures it opened on.
func TestViewCountsReporters(t *testing.T) {
	f := newFixture(t, Config{})
	tb := f.c.Table()
	key := f.keys[0]
	if err := f.c.Report(key, coord.ClassFailure, 0, time.Millisecond); err != nil {
		t.Fatal(err)
	}
	own, ok := tb.Evidence(key)
	if !ok {
		t.Fatal("no evidence of the local failure")
	}
	// Two failures each from node-b and node-c: five in the fleet, from three nodes.
	for _, origin := range []string{"node-b", "node-c"} {
		tb.MergeEvidence(origin, state.Evidence{Upstream: key, Gen: own.Gen,
			Buckets: []state.EvidenceBucket{{Index: own.Buckets[0].Index, Failures: 2, Calls: 2}}})
	}
	if st := tb.State(key); st != state.PhaseOpen {
		t.Fatalf("after the fleet's evidence the breaker is %v", st)
	}
	// And an operator's trip, which rests on no evidence.
	tb.Trip(f.keys[1], time.Minute, "by hand")

	v, err := f.cl.View(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]int{}
	for _, b := range v.Breakers {
		got[b.Upstream] = b.Reporters
	}
	if diff := cmp.Diff(map[string]int{key: 3, f.keys[1]: 0}, got); diff != "" {
		t.Errorf("reporters per breaker (-want +got):\n%s", diff)
	}
}

// budgetPolicy has a retry budget of 1.01 retries for a site with one
// first attempt on a node alone: the floor (0.1/s over 10 s) and 1% of it.
var budgetPolicy = policy.RetryPolicy{MaxAttempts: 3, BaseDelay: 100 * time.Millisecond, Backoff: policy.BackoffFixed,
	Budget: policy.RetryBudget{Ratio: 0.01, MinPerSecond: 0.1, Window: 10 * time.Second}}

// spendBudget sends one GET for site through the fixture's coordinator and
// its real proxies to an origin that answers 503: the first retry spends
// the site's budget and the second is refused.
func spendBudget(t *testing.T, f *fixture, site string) {
	t.Helper()
	origin := testproxy.NewOrigin(t)
	origin.ScriptStatus(503, 503, 503)
	rt := f.c.Transport(nil)
	defer rt.(interface{ CloseIdleConnections() }).CloseIdleConnections()
	req, err := http.NewRequestWithContext(coord.WithSite(context.Background(), site), "GET", origin.Server().URL, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := (&http.Client{Transport: rt}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 503 || resp.Header.Get(coord.HeaderBudget) != "exhausted" || resp.Header.Get(coord.HeaderAttempts) != "2" {
		t.Fatalf("status %d, budget %q after %q attempts; want the 503, exhausted, after 2", resp.StatusCode,
			resp.Header.Get(coord.HeaderBudget), resp.Header.Get(coord.HeaderAttempts))
	}
}

// TestViewCarriesBudgets: the snapshot carries each site's retry budget
// and the hedging counters, as GET /v1/budgets says them.
func TestViewCarriesBudgets(t *testing.T) {
	f := newFixtureWith(t, Config{}, coord.Config{Document: policy.Document{Retry: budgetPolicy}})
	spendBudget(t, f, "shop.example")
	v, err := f.cl.View(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want := Budgets{Members: 1, Exhausted: 1, Sites: []SiteBudget{{Site: "shop.example", Firsts: 1, Retries: 1, Allowed: 1.01, Left: 0.01}}}
	if diff := cmp.Diff(want, v.Budgets, cmpopts.EquateApprox(0, 1e-9)); diff != "" {
		t.Errorf("view's budgets (-want +got):\n%s", diff)
	}
	b, err := f.cl.Budgets(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(b, v.Budgets); diff != "" {
		t.Errorf("view's budgets differ from /v1/budgets' (-budgets +view):\n%s", diff)
	}
}
