package state

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/proxywhirl/retrycoord/policy"
)

// Boundaries of the levels and of the merge, found by mutation testing
// (make mutate).

// TestSiteOpensAtSpreadProxies: a site failing once through each of exactly
// SpreadProxies (5) proxies opens.
func TestSiteOpensAtSpreadProxies(t *testing.T) {
	tb, _ := newTestTable(t, "n1", policy.BreakerPolicy{})
	for i := 1; i <= 5; i++ {
		scoped(t, tb, proxyName(i), "down.com", OutcomeFailure, LevelPair)
	}
	if got := tb.StateAt(SiteKey("down.com")); got != PhaseOpen {
		t.Errorf("5 failures through 5 proxies: site %v, want open", got)
	}
}

// TestSiteFailureRateBoundary: through enough proxies, a site opens once
// its failures are SiteFailureRate (0.9) of its calls: 8 of 9 does not,
// 9 of 10 does.
func TestSiteFailureRateBoundary(t *testing.T) {
	tb, _ := newTestTable(t, "n1", policy.BreakerPolicy{})
	scoped(t, tb, proxyName(1), "down.com", OutcomeFailure, LevelPair) // counting starts
	scoped(t, tb, proxyName(1), "down.com", OutcomeSuccess, 0)
	for i := 2; i <= 8; i++ {
		scoped(t, tb, proxyName(i), "down.com", OutcomeFailure, LevelPair)
	}
	if got := tb.StateAt(SiteKey("down.com")); got != PhaseClosed {
		t.Fatalf("8 failures of 9 calls: site %v, want closed", got)
	}
	scoped(t, tb, proxyName(9), "down.com", OutcomeFailure, LevelPair)
	if got := tb.StateAt(SiteKey("down.com")); got != PhaseOpen {
		t.Errorf("9 failures of 10 calls: site %v, want open", got)
	}
}

// TestOpenSiteExplainsPairEvidence: while a site is open, other nodes'
// evidence against its pairs counts for nothing; the same evidence with
// the site closed opens the pair (the control).
func TestOpenSiteExplainsPairEvidence(t *testing.T) {
	idx := newFakeClock().Now().UnixNano() / int64(time.Second)
	ev := Evidence{Upstream: proxyName(1), Site: "s.com", Buckets: []EvidenceBucket{{Index: idx, Failures: 10, Calls: 10}}}
	open, _ := newTestTable(t, "n1", policy.BreakerPolicy{})
	open.TripAt(SiteKey("s.com"), time.Hour, "test")
	if open.MergeEvidence("n2", ev) || open.StateAt(PairKey(proxyName(1), "s.com")) != PhaseClosed {
		t.Errorf("with the site open: pair %v, want closed", open.StateAt(PairKey(proxyName(1), "s.com")))
	}
	closed, _ := newTestTable(t, "n1", policy.BreakerPolicy{})
	if !closed.MergeEvidence("n2", ev) || closed.StateAt(PairKey(proxyName(1), "s.com")) != PhaseOpen {
		t.Errorf("with the site closed: pair %v, want open", closed.StateAt(PairKey(proxyName(1), "s.com")))
	}
}

// TestFleetThresholdNeedsOthers: the fleet rule trips on other nodes'
// evidence added to this node's failures; this node's failures alone are
// judged by FailureThreshold, however low FleetThreshold is.
func TestFleetThresholdNeedsOthers(t *testing.T) {
	tb, clk := newTestTable(t, "a", policy.BreakerPolicy{FailureThreshold: 10, FleetThreshold: 5})
	for range 5 {
		fail(t, tb, up)
	}
	wantPhase(t, tb, up, PhaseClosed)
	idx := clk.Now().UnixNano() / int64(time.Second)
	tb.MergeEvidence("b", Evidence{Upstream: up, Buckets: []EvidenceBucket{{Index: idx, Failures: 1, Calls: 1}}})
	wantPhase(t, tb, up, PhaseOpen)
}

// TestMergeOfAnEqualRecordChangesNothing: a record merged again — also
// with another remaining open time, as a re-sent copy has — is not a change.
func TestMergeOfAnEqualRecordChangesNothing(t *testing.T) {
	a, _ := newTestTable(t, "a", policy.BreakerPolicy{})
	b, _ := newTestTable(t, "b", policy.BreakerPolicy{})
	rec := a.Trip(up, time.Minute, "test")
	if !b.Merge(rec, SourceGossip) {
		t.Fatal("the first merge changed nothing")
	}
	if b.Merge(rec, SourceGossip) {
		t.Error("merging the same record again changed the table")
	}
	rec.OpenFor = 10 * time.Second
	if b.Merge(rec, SourceGossip) {
		t.Error("merging the same record with less open time left changed the table")
	}
}

// TestSiteOpensAtMinReporters: with MinReporters 2, a site failing
// through four proxies on one node and a fifth on another opens on the
// node that has both: exactly MinReporters nodes reported.
func TestSiteOpensAtMinReporters(t *testing.T) {
	pol := policy.BreakerPolicy{MinReporters: 2}
	a, _ := newTestTable(t, "a", pol)
	b, _ := newTestTable(t, "b", pol)
	for i := 1; i <= 4; i++ {
		scoped(t, a, proxyName(i), "down.com", OutcomeFailure, LevelPair)
	}
	scoped(t, b, proxyName(5), "down.com", OutcomeFailure, LevelPair)
	for _, ev := range a.PendingEvidence(nil) {
		b.MergeEvidence(a.Node(), ev)
	}
	if got := b.StateAt(SiteKey("down.com")); got != PhaseOpen {
		t.Errorf("b, with its failure and a's evidence: site %v, want open", got)
	}
}

// TestStaleEvidenceSpreadsNothing: evidence whose buckets all lie outside
// the window counts no failure, so it names no proxy as failing for the
// site: five failures through one proxy afterwards do not open the site
// (SpreadProxies 5).
func TestStaleEvidenceSpreadsNothing(t *testing.T) {
	tb, clk := newTestTable(t, "n1", policy.BreakerPolicy{})
	stale := clk.Now().UnixNano()/int64(time.Second) - 120
	for i := 1; i <= 4; i++ {
		tb.MergeEvidence("n2", Evidence{Upstream: proxyName(i), Site: "down.com", Buckets: []EvidenceBucket{{Index: stale, Failures: 3, Calls: 3}}})
	}
	for range 5 {
		scoped(t, tb, proxyName(5), "down.com", OutcomeFailure, LevelPair)
	}
	if got := tb.StateAt(SiteKey("down.com")); got != PhaseClosed {
		t.Errorf("5 failures through one proxy after stale evidence for four others: site %v, want closed", got)
	}
}

// TestMergedTripsCountAsConsecutive: trips adopted from another node count
// toward the open time's growth like this node's own: after merging two
// consecutive trips, this node's own failed probe opens the breaker for
// OpenTimeout·OpenBackoff² (30s·4, ±10%), not as a first or second trip.
func TestMergedTripsCountAsConsecutive(t *testing.T) {
	pol := policy.BreakerPolicy{OpenBackoff: 2, MaxOpenTimeout: time.Hour}
	a, clkA := newTestTable(t, "a", pol)
	b, clkB := newTestTable(t, "b", pol)
	b.Merge(a.Trip(up, 0, "test"), SourceGossip) // gen 1, 30s
	clkA.Advance(30 * time.Second)
	probe, err := a.Admit(up)
	if err != nil {
		t.Fatal(err)
	}
	a.Settle(probe, OutcomeFailure, 0)
	gen2, _ := a.Record(up)
	b.Merge(gen2, SourceGossip) // gen 2, about 60s
	clkB.Advance(gen2.OpenFor)
	probe, err = b.Admit(up)
	if err != nil {
		t.Fatalf("b's probe after gen 2's open time: %v", err)
	}
	b.Settle(probe, OutcomeFailure, 0)
	rec, _ := b.Record(up)
	if rec.Gen != 3 || rec.OpenFor < 108*time.Second || rec.OpenFor > 132*time.Second {
		t.Fatalf("b's trip after two merged trips: gen %d open for %v, want gen 3 for 120s ±10%%", rec.Gen, rec.OpenFor)
	}
}

// TestProxySpreadReasonNamesFive: a proxy opened by its pairs failing on
// more sites than a reason names lists the first five.
func TestProxySpreadReasonNamesFive(t *testing.T) {
	tb, _ := newTestTable(t, "n1", policy.BreakerPolicy{SpreadSites: 6})
	p := proxyName(1)
	for _, site := range []string{"a.com", "b.com", "c.com", "d.com", "e.com", "f.com"} {
		for range 5 {
			scoped(t, tb, proxyName(2), site, OutcomeSuccess, 0)
			scoped(t, tb, p, site, OutcomeFailure, LevelPair)
		}
	}
	rec, _ := tb.Record(p)
	if want := "failing on 6 sites: a.com, b.com, c.com, d.com, e.com"; rec.Phase != PhaseOpen || rec.Reason != want {
		t.Errorf("proxy %v, reason %q; want open, %q", rec.Phase, rec.Reason, want)
	}
}

// TestPairEvidenceJudgedAgainstTheSite: another node's evidence against a
// pair is judged against the site's pool here, as local failures are: a
// pair failing half its calls for a site that fails half its calls through
// every proxy is not blamed.
func TestPairEvidenceJudgedAgainstTheSite(t *testing.T) {
	tb, clk := newTestTable(t, "n1", policy.BreakerPolicy{})
	for i := 1; i <= 4; i++ { // the site fails half its calls through four proxies
		for range 3 {
			scoped(t, tb, proxyName(i), "noisy.com", OutcomeFailure, LevelPair)
		}
		for range 3 {
			scoped(t, tb, proxyName(i), "noisy.com", OutcomeSuccess, 0)
		}
	}
	idx := clk.Now().UnixNano() / int64(time.Second)
	tb.MergeEvidence("n2", Evidence{Upstream: proxyName(9), Site: "noisy.com", Buckets: []EvidenceBucket{{Index: idx, Failures: 5, Calls: 10}}})
	if got := tb.StateAt(PairKey(proxyName(9), "noisy.com")); got != PhaseClosed {
		t.Errorf("a pair no worse than the site's pool: %v, want closed", got)
	}
	if got := tb.StateAt(SiteKey("noisy.com")); got != PhaseClosed {
		t.Errorf("site %v, want closed (half its calls fail)", got)
	}
}

// TestSpreadForgetsTheOldest: a roll-up remembers at most 16 names; a new
// one replaces the oldest, never a recent one. Sixteen proxies fail for a
// site at half its calls (the site stays closed), two more half a minute
// later, then three more once the sixteen have left the window: the five
// recent ones open the site.
func TestSpreadForgetsTheOldest(t *testing.T) {
	tb, clk := newTestTable(t, "n1", policy.BreakerPolicy{})
	for i := 1; i <= 16; i++ {
		scoped(t, tb, proxyName(i), "x.com", OutcomeFailure, LevelPair)
		scoped(t, tb, proxyName(i), "x.com", OutcomeSuccess, 0)
	}
	clk.Advance(30 * time.Second)
	scoped(t, tb, proxyName(17), "x.com", OutcomeFailure, LevelPair)
	clk.Advance(time.Second)
	scoped(t, tb, proxyName(18), "x.com", OutcomeFailure, LevelPair)
	if got := tb.StateAt(SiteKey("x.com")); got != PhaseClosed {
		t.Fatalf("18 failures of 34 calls: site %v, want closed", got)
	}
	clk.Advance(31 * time.Second) // the first sixteen are 62s old
	for i := 19; i <= 21; i++ {
		scoped(t, tb, proxyName(i), "x.com", OutcomeFailure, LevelPair)
	}
	if got := tb.StateAt(SiteKey("x.com")); got != PhaseOpen {
		t.Errorf("5 failures through 5 proxies in the window: site %v, want open", got)
	}
}

// TestSpreadReplacesTheOldest: a roll-up's window remembers at most
// maxSpread names; a new name replaces the one that failed longest ago,
// wherever it sits, and a name noted again is not counted twice.
func TestSpreadReplacesTheOldest(t *testing.T) {
	const head = 1000
	w := &window{head: head}
	for i := range maxSpread { // n0 failed longest ago, n15 in the newest bucket
		w.noteSpread(fmt.Sprintf("n%d", i), head-maxSpread+1+int64(i))
	}
	w.noteSpread("n3", head)
	w.noteSpread("new", head)
	n, names := w.spreadCount(2 * maxSpread)
	if n != maxSpread || len(w.spread) != maxSpread {
		t.Fatalf("spreadCount = %d, %d entries; want %d", n, len(w.spread), maxSpread)
	}
	if slices.Contains(names, "n0") || !slices.Contains(names, "new") || !slices.Contains(names, "n1") {
		t.Errorf("names = %v, want n0 (the oldest) replaced by new", names)
	}
	w.noteSpread("newer", head)
	if _, names = w.spreadCount(2 * maxSpread); slices.Contains(names, "n1") || !slices.Contains(names, "n2") {
		t.Errorf("names = %v, want n1 (now the oldest) replaced by newer", names)
	}
}

// TestStaleEvidenceLeavesNothingToKeep: evidence whose buckets are all
// older than the window (one slot past its edge) creates a breaker that
// counts nothing; idle, it is evicted like any pristine breaker.
func TestStaleEvidenceLeavesNothingToKeep(t *testing.T) {
	tb, clk := newTestTable(t, "n1", policy.BreakerPolicy{})
	stale := clk.Now().UnixNano()/int64(time.Second) - windowSlots
	if tb.MergeEvidence("n2", Evidence{Upstream: up, Buckets: []EvidenceBucket{{Index: stale, Failures: 3, Calls: 3}}}) {
		t.Fatal("stale evidence tripped the breaker")
	}
	if got := tb.Reporters(ProxyKey(up)); got != 0 {
		t.Errorf("Reporters = %d after stale evidence, want 0", got)
	}
	tb.EvictIdle()
	if n := tb.EvictIdle(); n != 1 || tb.Len() != 0 {
		t.Errorf("the breaker stale evidence created: evicted %d, %d left; want 1 and 0", n, tb.Len())
	}
}
