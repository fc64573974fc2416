package state

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/proxywhirl/retrycoord/policy"
)

// scoped makes one scoped call through proxy for site with the given
// outcome and blame, and reports the level that refused it (0: admitted).
func scoped(t testing.TB, tb *Table, proxy, site string, outcome Outcome, blame Level) Level {
	t.Helper()
	var s Scoped
	lvl, err := tb.AdmitScoped(&s, proxy, site)
	if err != nil {
		return lvl
	}
	tb.SettleScoped(&s, outcome, blame, time.Millisecond)
	return 0
}

func proxyName(i int) string { return fmt.Sprintf("http://10.0.0.%d:8080", i) }

// TestRateRule: a breaker opens at FailureThreshold failures only when
// they are at least MinFailureRate of the calls since the first failure;
// five failures and nothing else still open it, and MinFailureRate off is
// the pure count rule.
func TestRateRule(t *testing.T) {
	tests := []struct {
		name      string
		rate      float64
		successes int // between the first failure and the other four
		wantOpen  bool
	}{
		{"five failures and nothing else", 0, 0, true},
		{"five failures in six calls", 0, 1, true},
		{"five failures in 100 calls", 0, 95, false},
		{"count rule: five failures in 100 calls", policy.NoMinFailureRate, 95, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tb, _ := newTestTable(t, "n1", policy.BreakerPolicy{MinFailureRate: tt.rate})
			fail(t, tb, "p")
			for range tt.successes {
				succeed(t, tb, "p", 0)
			}
			for range 4 {
				fail(t, tb, "p")
			}
			if got := tb.State("p") == PhaseOpen; got != tt.wantOpen {
				t.Errorf("open = %v, want %v", got, tt.wantOpen)
			}
		})
	}
}

// TestPairBlame: a site that bans one proxy opens that pair only; the
// proxy stays usable for every other site and the site for every other
// proxy.
func TestPairBlame(t *testing.T) {
	tb, _ := newTestTable(t, "n1", policy.BreakerPolicy{})
	for range 5 {
		scoped(t, tb, proxyName(1), "a.com", OutcomeSuccess, 0)
		scoped(t, tb, proxyName(2), "a.com", OutcomeSuccess, 0)
		scoped(t, tb, proxyName(1), "a.com", OutcomeFailure, LevelPair)
	}
	if got := tb.StateAt(PairKey(proxyName(1), "a.com")); got != PhaseOpen {
		t.Fatalf("pair state = %v, want open", got)
	}
	if got := tb.State(proxyName(1)); got != PhaseClosed {
		t.Errorf("proxy state = %v, want closed", got)
	}
	if got := tb.StateAt(SiteKey("a.com")); got != PhaseClosed {
		t.Errorf("site state = %v, want closed", got)
	}
	if lvl := scoped(t, tb, proxyName(1), "a.com", OutcomeSuccess, 0); lvl != LevelPair {
		t.Errorf("a call through the banned pair was refused at %v, want pair", lvl)
	}
	if lvl := scoped(t, tb, proxyName(1), "b.com", OutcomeSuccess, 0); lvl != 0 {
		t.Errorf("a call through the proxy for another site was refused at %v", lvl)
	}
	if lvl := scoped(t, tb, proxyName(2), "a.com", OutcomeSuccess, 0); lvl != 0 {
		t.Errorf("a call for the site through another proxy was refused at %v", lvl)
	}
}

// TestSiteDown: a site that fails through every proxy opens the site, not
// its pairs (relative blame: no proxy fails it more than the others do),
// and its reason says how many proxies.
func TestSiteDown(t *testing.T) {
	tb, _ := newTestTable(t, "n1", policy.BreakerPolicy{})
	for i := range 10 {
		scoped(t, tb, proxyName(1+i%5), "down.com", OutcomeFailure, LevelPair)
	}
	rec, ok := tb.RecordAt(SiteKey("down.com"))
	if !ok || rec.Phase != PhaseOpen {
		t.Fatalf("site record = %+v, %v; want open", rec, ok)
	}
	if !strings.Contains(rec.Reason, "failing through 5 proxies") {
		t.Errorf("site reason = %q", rec.Reason)
	}
	for i := 1; i <= 5; i++ {
		if got := tb.StateAt(PairKey(proxyName(i), "down.com")); got != PhaseClosed {
			t.Errorf("pair %d state = %v, want closed (the site explains it)", i, got)
		}
		if got := tb.State(proxyName(i)); got != PhaseClosed {
			t.Errorf("proxy %d state = %v, want closed", i, got)
		}
	}
	if lvl := scoped(t, tb, proxyName(6), "down.com", OutcomeSuccess, 0); lvl != LevelSite {
		t.Errorf("a call for the open site was refused at %v, want site", lvl)
	}
	if lvl := scoped(t, tb, proxyName(1), "up.com", OutcomeSuccess, 0); lvl != 0 {
		t.Errorf("a call for another site was refused at %v", lvl)
	}
}

// TestSiteNeedsSpread: a site failing through fewer than SpreadProxies
// proxies does not open, however often; nor do its pairs, since none
// fails it more than the others do (relative blame).
func TestSiteNeedsSpread(t *testing.T) {
	tb, _ := newTestTable(t, "n1", policy.BreakerPolicy{})
	for i := range 40 {
		scoped(t, tb, proxyName(1+i%4), "x.com", OutcomeFailure, LevelPair)
	}
	if got := tb.StateAt(SiteKey("x.com")); got != PhaseClosed {
		t.Errorf("site state = %v, want closed (4 proxies < SpreadProxies 5)", got)
	}
	for i := 1; i <= 4; i++ {
		if got := tb.StateAt(PairKey(proxyName(i), "x.com")); got != PhaseClosed {
			t.Errorf("pair %d state = %v, want closed: it fails no more than the others", i, got)
		}
	}
}

// TestProxySpread: a proxy whose pairs open on SpreadSites distinct sites
// opens itself, naming the sites.
func TestProxySpread(t *testing.T) {
	tb, _ := newTestTable(t, "n1", policy.BreakerPolicy{})
	p := proxyName(1)
	for _, site := range []string{"a.com", "b.com", "c.com"} {
		if got := tb.State(p); got != PhaseClosed {
			t.Fatalf("the proxy opened before its pair for %s", site)
		}
		for range 5 {
			scoped(t, tb, proxyName(2), site, OutcomeSuccess, 0)
			scoped(t, tb, p, site, OutcomeFailure, LevelPair)
		}
	}
	rec, ok := tb.Record(p)
	if !ok || rec.Phase != PhaseOpen {
		t.Fatalf("proxy record = %+v, %v; want open", rec, ok)
	}
	if want := "failing on 3 sites: a.com, b.com, c.com"; rec.Reason != want {
		t.Errorf("reason = %q, want %q", rec.Reason, want)
	}
}

// TestProxyFaultNotSplit: proxy-level faults for five different sites open
// the proxy once and create no pair or site.
func TestProxyFaultNotSplit(t *testing.T) {
	tb, _ := newTestTable(t, "n1", policy.BreakerPolicy{})
	p := proxyName(1)
	for i := range 5 {
		scoped(t, tb, p, fmt.Sprintf("s%d.com", i), OutcomeFailure, LevelProxy)
	}
	if got := tb.State(p); got != PhaseOpen {
		t.Fatalf("proxy state = %v, want open", got)
	}
	if got := tb.Stats().Pairs; got != 0 {
		t.Errorf("pairs = %d, want 0", got)
	}
	if got := tb.Len(); got != 1 {
		t.Errorf("breakers = %d, want 1 (the proxy)", got)
	}
}

// TestBackgroundNoise: every site failing 2% of calls at random, through
// ten proxies, at volume, opens nothing.
func TestBackgroundNoise(t *testing.T) {
	tb, clk := newTestTable(t, "n1", policy.BreakerPolicy{})
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range 200_000 {
		if i%100 == 0 {
			clk.Advance(10 * time.Millisecond)
		}
		p, site := proxyName(rng.IntN(10)), fmt.Sprintf("s%d.com", rng.IntN(10))
		out := OutcomeSuccess
		if rng.Float64() < 0.02 {
			out = OutcomeFailure
		}
		if lvl := scoped(t, tb, p, site, out, LevelPair); lvl != 0 {
			t.Fatalf("call %d refused at %v", i, lvl)
		}
	}
	for _, r := range tb.Snapshot() {
		t.Errorf("a breaker moved: %+v", r)
	}
}

// TestPairCreatedOnFailure: a success creates no pair; a failure does; idle
// pristine pairs are evicted; MaxPairs bounds them, evicting the least
// recently failed first, counted.
func TestPairCreatedOnFailure(t *testing.T) {
	clk := newFakeClock()
	tb, err := NewTable(Config{Now: clk.Now, MaxPairs: 3})
	if err != nil {
		t.Fatal(err)
	}
	scoped(t, tb, "p", "a.com", OutcomeSuccess, 0)
	if got := tb.Stats().Pairs; got != 0 {
		t.Fatalf("pairs after a success = %d, want 0", got)
	}
	for i := range 4 {
		clk.Advance(time.Second)
		scoped(t, tb, "p", fmt.Sprintf("s%d.com", i), OutcomeFailure, LevelPair)
	}
	st := tb.Stats()
	if st.Pairs != 3 || st.PairsEvicted != 1 {
		t.Fatalf("pairs = %d, evicted %d; want 3 and 1", st.Pairs, st.PairsEvicted)
	}
	if tb.lookup(PairKey("p", "s0.com"), false) != nil {
		t.Errorf("the least recently failed pair is still there")
	}
	clk.Advance(2 * time.Minute)
	tb.EvictIdle()
	tb.EvictIdle()
	if got := tb.Stats().Pairs; got != 0 {
		t.Errorf("pairs after idling = %d, want 0", got)
	}
}

// TestSiteEvidence: a site opens from the fleet's merged counts: failures
// through five proxies seen by five nodes, one each. The node that has all
// the evidence first opens it; its record opens it everywhere.
func TestSiteEvidence(t *testing.T) {
	nodes := make([]*Table, 5)
	for i := range nodes {
		nodes[i], _ = newTestTable(t, fmt.Sprintf("n%d", i), policy.BreakerPolicy{})
	}
	for i, tb := range nodes {
		scoped(t, tb, proxyName(i), "down.com", OutcomeFailure, LevelPair)
	}
	for i, tb := range nodes {
		for _, ev := range tb.PendingEvidence(nil) {
			for j, other := range nodes {
				if j != i {
					other.MergeEvidence(tb.Node(), ev)
				}
			}
		}
	}
	rec, ok := nodes[4].RecordAt(SiteKey("down.com"))
	if !ok || rec.Phase != PhaseOpen {
		t.Fatalf("node 4, which has every node's evidence: site record %+v, %v; want open", rec, ok)
	}
	for i, tb := range nodes {
		tb.Merge(rec, SourceGossip)
		if got := tb.StateAt(SiteKey("down.com")); got != PhaseOpen {
			t.Errorf("node %d: site state = %v, want open", i, got)
		}
	}
}

// TestSiteCloseClosesItsPairs: a pair that opened while its site was
// failing (blamed before the other proxies had shown the site's trouble),
// or as early as a Window before the site opened, closes with the site,
// not before; a pair that opened long before stays open.
func TestSiteCloseClosesItsPairs(t *testing.T) {
	// The pairs are found whether they were added since the index's maps
	// were last promoted or a sweep promoted them.
	for _, sweep := range []bool{false, true} {
		t.Run(fmt.Sprintf("sweep=%v", sweep), func(t *testing.T) {
			tb, clk := newTestTable(t, "n1", policy.BreakerPolicy{})
			old := PairKey(proxyName(9), "x.com")
			tb.TripAt(old, time.Hour, "banned long ago")
			clk.Advance(5 * time.Minute)
			edge := PairKey(proxyName(8), "x.com")
			tb.TripAt(edge, time.Hour, "banned exactly a window before the site opened")
			clk.Advance(tb.Policy().Window)
			for range 5 { // through one proxy only: nothing to compare with, the pair is blamed
				scoped(t, tb, proxyName(1), "x.com", OutcomeFailure, LevelPair)
			}
			pair := PairKey(proxyName(1), "x.com")
			if got := tb.StateAt(pair); got != PhaseOpen {
				t.Fatalf("pair = %v, want open", got)
			}
			for i := 2; i <= 6; i++ {
				scoped(t, tb, proxyName(i), "x.com", OutcomeFailure, LevelPair)
			}
			if got := tb.StateAt(SiteKey("x.com")); got != PhaseOpen {
				t.Fatalf("site = %v, want open", got)
			}
			if got := tb.StateAt(pair); got != PhaseOpen {
				t.Errorf("the pair, while its site is open = %v, want open (it closes with the site)", got)
			}
			if sweep {
				tb.EvictIdle()
			}
			if _, changed := tb.ResetAt(SiteKey("x.com")); !changed {
				t.Fatal("the site did not close")
			}
			if got := tb.StateAt(pair); got != PhaseClosed {
				t.Errorf("the pair that opened with the site = %v, want closed", got)
			}
			if got := tb.StateAt(edge); got != PhaseClosed {
				t.Errorf("the pair that opened exactly a window before the site = %v, want closed", got)
			}
			if got := tb.StateAt(old); got != PhaseOpen {
				t.Errorf("the pair that opened long before = %v, want open", got)
			}
		})
	}
}

// TestSiteForgetsAPairThatClosed: a pair that opened and closed again
// (its probe succeeded) no longer makes its site hot, so the site, once
// idle, is evicted; the pair, having tripped, is kept.
func TestSiteForgetsAPairThatClosed(t *testing.T) {
	tb, clk := newTestTable(t, "n1", policy.BreakerPolicy{})
	pair := PairKey(proxyName(1), "x.com")
	for range 5 {
		scoped(t, tb, proxyName(1), "x.com", OutcomeFailure, LevelPair)
	}
	if got := tb.StateAt(pair); got != PhaseOpen {
		t.Fatalf("pair = %v, want open", got)
	}
	clk.Advance(tb.Policy().OpenTimeout)
	if lvl := scoped(t, tb, proxyName(1), "x.com", OutcomeSuccess, 0); lvl != 0 {
		t.Fatalf("the probe was refused at %v", lvl)
	}
	if got := tb.StateAt(pair); got != PhaseClosed {
		t.Fatalf("pair after its probe succeeded = %v, want closed", got)
	}
	clk.Advance(2 * time.Minute)
	for range 3 {
		tb.EvictIdle()
	}
	if got := tb.Len(); got != 1 || tb.lookup(pair, false) == nil {
		t.Errorf("after idling %d breakers remain, want 1 (the pair that tripped)", got)
	}
}

// TestEvictIdleEveryLevel: a pair's failure leaves a proxy, a pair and a
// site behind. While the failure is in the window (exactly Window old
// still is) the pair and the site stay; once it is out and nothing used
// them, sweeps evict them too, each counted once in what EvictIdle
// returns, and the site, told its pair went cold, holds nothing.
func TestEvictIdleEveryLevel(t *testing.T) {
	tb, clk := newTestTable(t, "a", policy.BreakerPolicy{})
	scoped(t, tb, "http://p:1", "a.example", OutcomeFailure, LevelPair)
	if got := tb.Len(); got != 3 {
		t.Fatalf("Len() = %d after a pair's failure, want 3 (proxy, pair, site)", got)
	}
	clk.Advance(time.Minute)
	if n := tb.EvictIdle() + tb.EvictIdle() + tb.EvictIdle(); n != 1 || tb.Len() != 2 {
		t.Fatalf("failure Window old: evicted %d, %d left; want 1 (the proxy) and 2", n, tb.Len())
	}
	clk.Advance(time.Minute / bucketsPerWindow)
	if n := tb.EvictIdle() + tb.EvictIdle() + tb.EvictIdle(); n != 2 {
		t.Errorf("failure out of the window: evicted %d, want 2 (the pair and the site)", n)
	}
	if st := tb.Stats(); st.Breakers != 0 || st.Pairs != 0 || st.Evicted != 3 {
		t.Errorf("Stats: %d breakers, %d pairs, %d evicted; want 0, 0, 3", st.Breakers, st.Pairs, st.Evicted)
	}
}

// TestMaxPairsHoldsMaxPairs: a table holds exactly MaxPairs pairs before
// it evicts; over it, it evicts the excess and a sixteenth of MaxPairs
// more, so that a flood of new pairs does not sweep at every one. The
// evicted pairs are forgotten everywhere: once idle, every breaker left
// (the sites of evicted pairs included) is evicted too.
func TestMaxPairsHoldsMaxPairs(t *testing.T) {
	const max = 16
	clk := newFakeClock()
	tb, err := NewTable(Config{Now: clk.Now, MaxPairs: max})
	if err != nil {
		t.Fatal(err)
	}
	for i := range max {
		scoped(t, tb, "http://p:1", fmt.Sprintf("s%d.example", i), OutcomeFailure, LevelPair)
	}
	if st := tb.Stats(); st.Pairs != max || st.PairsEvicted != 0 {
		t.Fatalf("%d pairs: held %d, evicted %d; want %d and 0", max, st.Pairs, st.PairsEvicted, max)
	}
	scoped(t, tb, "http://p:1", "one-more.example", OutcomeFailure, LevelPair)
	if st := tb.Stats(); st.Pairs != max-1 || st.PairsEvicted != 2 {
		t.Errorf("one pair more: held %d, evicted %d; want %d and 2 (the excess and max/16)", st.Pairs, st.PairsEvicted, max-1)
	}
	clk.Advance(2 * time.Minute)
	for range 3 {
		tb.EvictIdle()
	}
	if st := tb.Stats(); st.Breakers != 0 || st.Pairs != 0 {
		t.Errorf("all idle: %d breakers and %d pairs left, want none", st.Breakers, st.Pairs)
	}
}

// TestPairBlamedWhenTheOthersOnlySucceeded: a pair that failed every call
// while the site's only other call, through another proxy, succeeded is
// blamed and opens at FailureThreshold, although the site's counts, taken
// before the pair's last failure is added to them, hold as many calls as
// the pair's.
func TestPairBlamedWhenTheOthersOnlySucceeded(t *testing.T) {
	tb, _ := newTestTable(t, "n1", policy.BreakerPolicy{})
	scoped(t, tb, proxyName(1), "a.com", OutcomeFailure, LevelPair)
	scoped(t, tb, proxyName(2), "a.com", OutcomeSuccess, 0)
	for range 4 {
		scoped(t, tb, proxyName(1), "a.com", OutcomeFailure, LevelPair)
	}
	if got := tb.StateAt(PairKey(proxyName(1), "a.com")); got != PhaseOpen {
		t.Errorf("pair state = %v, want open", got)
	}
}

// TestPairNoWorseThanTheOthersNotBlamed: a pair whose failure ratio for a
// site is below that of the site's other calls is not blamed, although it
// reaches FailureThreshold and MinFailureRate: five failures in nine calls
// through one proxy, while the other proxy failed all four of its calls.
func TestPairNoWorseThanTheOthersNotBlamed(t *testing.T) {
	tb, _ := newTestTable(t, "n1", policy.BreakerPolicy{})
	for range 4 {
		scoped(t, tb, proxyName(2), "a.com", OutcomeFailure, LevelPair)
	}
	for i := range 9 {
		outcome := OutcomeFailure
		if i%2 == 1 {
			outcome = OutcomeSuccess
		}
		scoped(t, tb, proxyName(1), "a.com", outcome, LevelPair)
	}
	if got := tb.StateAt(PairKey(proxyName(1), "a.com")); got != PhaseClosed {
		t.Errorf("pair failing 5 of 9 calls, the other proxy 4 of 4: %v, want closed", got)
	}
}

// TestOpenSiteFailsFast: while a site is open, a scoped call for it
// through any proxy is refused at the site level and holds nothing; calls
// for other sites go through.
func TestOpenSiteFailsFast(t *testing.T) {
	tb, clk := newTestTable(t, "n1", policy.BreakerPolicy{})
	tb.TripAt(SiteKey("down.com"), time.Minute, "test")
	for i := 1; i <= 3; i++ {
		var s Scoped
		lvl, err := tb.AdmitScoped(&s, proxyName(i), "down.com")
		if !errors.Is(err, ErrOpen) || lvl != LevelSite {
			t.Fatalf("through proxy %d: %v, %v; want ErrOpen at the site", i, lvl, err)
		}
		if s.Proxy.b != nil || s.Pair.b != nil || s.Site.b != nil {
			t.Errorf("a refused call holds tickets: %+v", s)
		}
	}
	if lvl := scoped(t, tb, proxyName(1), "up.com", OutcomeSuccess, 0); lvl != 0 {
		t.Errorf("another site refused at %v", lvl)
	}
	// Once its open time ran out, one probe goes through.
	clk.Advance(time.Minute)
	if lvl := scoped(t, tb, proxyName(1), "down.com", OutcomeSuccess, 0); lvl != 0 {
		t.Fatalf("the site's probe refused at %v", lvl)
	}
	if got := tb.StateAt(SiteKey("down.com")); got != PhaseClosed {
		t.Errorf("site after its probe succeeded = %v, want closed", got)
	}
}

// TestPairWorseThanTheOthersBlamed: a pair failing every call is blamed
// when the site's other calls fail too, but less often: two of eight
// through the other proxy.
func TestPairWorseThanTheOthersBlamed(t *testing.T) {
	tb, _ := newTestTable(t, "n1", policy.BreakerPolicy{})
	for i := range 8 {
		outcome := OutcomeSuccess
		if i%2 == 0 && i < 4 {
			outcome = OutcomeFailure
		}
		scoped(t, tb, proxyName(2), "a.com", outcome, LevelPair)
	}
	for range 5 {
		scoped(t, tb, proxyName(1), "a.com", OutcomeFailure, LevelPair)
	}
	if got := tb.StateAt(PairKey(proxyName(1), "a.com")); got != PhaseOpen {
		t.Errorf("pair failing 5 of 5 calls, the other proxy 2 of 8: %v, want open", got)
	}
	if got := tb.StateAt(PairKey(proxyName(2), "a.com")); got != PhaseClosed {
		t.Errorf("the other pair: %v, want closed", got)
	}
}
