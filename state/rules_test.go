package state

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/proxywhirl/retrycoord/policy"
)

// The rules of issue 12, each tested so that it fails when the rule is
// broken in the most plausible way.

// TestCompareDecidesFieldByField pins the order of the fields Compare reads:
// for each field, a record ahead on that field wins although it is behind
// on every field read after it. The algebraic properties of the merge hold
// for any total order; this is the test that says which one is ours.
func TestCompareDecidesFieldByField(t *testing.T) {
	const h = 1_700_000_000_000
	// lo loses on every field, hi wins on every field.
	lo := Record{Kind: KindBreaker, Upstream: up, Gen: 1, Phase: PhaseOpen, HLC: NewHLC(h, 0), Origin: "a", OpenFor: time.Second, Reason: "a", Value: []byte("a")}
	hi := Record{Kind: KindBreaker, Upstream: up, Gen: 2, Phase: PhaseClosed, HLC: NewHLC(h+1, 0), Origin: "b", OpenFor: 2 * time.Second, Reason: "b", Deleted: true, Value: []byte("b")}
	fields := []struct {
		name string
		set  func(dst *Record, src Record)
	}{
		{"Gen", func(d *Record, s Record) { d.Gen = s.Gen }},
		{"Phase", func(d *Record, s Record) { d.Phase = s.Phase }},
		{"HLC", func(d *Record, s Record) { d.HLC = s.HLC }},
		{"Origin", func(d *Record, s Record) { d.Origin = s.Origin }},
		{"OpenFor", func(d *Record, s Record) { d.OpenFor = s.OpenFor }},
		{"Reason", func(d *Record, s Record) { d.Reason = s.Reason }},
		{"Deleted", func(d *Record, s Record) { d.Deleted = s.Deleted }},
		{"Value", func(d *Record, s Record) { d.Value = s.Value }},
	}
	for i, f := range fields {
		t.Run(f.name, func(t *testing.T) {
			// a equals b on the fields before i, is ahead on field i and
			// behind on every field after it.
			a, b := lo, hi
			for _, g := range fields[:i] {
				g.set(&a, hi)
			}
			f.set(&a, hi)
			f.set(&b, lo)
			if got := Compare(a, b); got != 1 {
				t.Errorf("Compare(ahead on %s, behind on the rest) = %d, want 1", f.name, got)
			}
			if got := Compare(b, a); got != -1 {
				t.Errorf("Compare(behind on %s, ahead on the rest) = %d, want -1", f.name, got)
			}
			if got := Max(b, a); Compare(got, a) != 0 {
				t.Errorf("Max picked the record behind on %s", f.name)
			}
		})
	}
}

// TestCloseOfOlderGenerationWithNewerClockLoses: the merge is decided by
// generation before the clock. A close of generation 1 written after (by
// HLC) the trip of generation 2 — a node that never saw the trip closes
// late — loses to that trip in every order. (A close with an older clock
// would lose under either order of the two fields.)
func TestCloseOfOlderGenerationWithNewerClockLoses(t *testing.T) {
	a, _ := newTestTable(t, "a", policy.BreakerPolicy{})
	open1 := a.Trip(up, time.Minute, "")
	closed1, _ := a.Reset(up)
	open2 := a.Trip(up, time.Minute, "")
	c, clkC := newTestTable(t, "c", policy.BreakerPolicy{})
	clkC.Advance(time.Hour) // c's clock is well ahead of a's
	c.Merge(open1, SourceGossip)
	lateClose, _ := c.Reset(up)
	if lateClose.Gen != 1 || lateClose.HLC <= open2.HLC {
		t.Fatalf("precondition: late close gen %d HLC %v, open2 gen %d HLC %v", lateClose.Gen, lateClose.HLC, open2.Gen, open2.HLC)
	}
	for _, order := range [][]Record{{open2, lateClose}, {lateClose, open2}, {closed1, lateClose, open2}} {
		b, _ := newTestTable(t, "b", policy.BreakerPolicy{})
		for _, r := range order {
			b.Merge(r, SourceGossip)
		}
		if got, _ := b.Record(up); got.Gen != 2 || got.Phase != PhaseOpen || got.Origin != "a" {
			t.Errorf("after %d records: holds %v gen %d by %s, want a's open of gen 2", len(order), got.Phase, got.Gen, got.Origin)
		}
	}
	if Compare(open2, lateClose) != 1 {
		t.Error("Compare: the open of gen 2 does not beat the later close of gen 1")
	}
}

// TestCompareIsTransitive over records from a small space, where equal
// fields are common.
func TestCompareIsTransitive(t *testing.T) {
	r := rand.New(rand.NewPCG(12, 12))
	for range 20000 {
		a, b, c := randomRecord(r), randomRecord(r), randomRecord(r)
		if Compare(a, b) <= 0 && Compare(b, c) <= 0 && Compare(a, c) > 0 {
			t.Fatalf("a <= b <= c but a > c:\na %+v\nb %+v\nc %+v", a, b, c)
		}
	}
}

// TestEvidenceResentAsItGrowsIsMaxed: evidence is cumulative per origin, so
// counts re-sent as they grow (1, then 2, then 3) are merged by max, never
// summed: three sends of a growing count are three failures, not six.
func TestEvidenceResentAsItGrowsIsMaxed(t *testing.T) {
	f := newFleet(t, 3, policy.BreakerPolicy{}) // threshold 5
	for range 3 {
		fail(t, f[0], up)
		f.exchange()
	}
	fail(t, f[1], up)
	f.exchange()
	for i, p := range f.phases(up) {
		if p != PhaseClosed {
			t.Fatalf("3 failures on n0 sent as 1, 2, 3 and 1 on n1: node %d is %v, want closed (4 failures, not 7)", i, p)
		}
	}
	fail(t, f[1], up) // the fifth failure of the fleet
	f.exchange()
	for i, p := range f.phases(up) {
		if p != PhaseOpen {
			t.Errorf("the fleet's fifth failure: node %d is %v, want open", i, p)
		}
	}
}

// TestEvidenceAtWindowEdge: a failure exactly Window old counts in the
// fleet's evidence as it does in the node's own counts, and one bucket
// older counts in neither.
func TestEvidenceAtWindowEdge(t *testing.T) {
	for _, tc := range []struct {
		age  time.Duration
		want Phase
	}{
		{60 * time.Second, PhaseOpen},
		{61 * time.Second, PhaseClosed},
	} {
		t.Run("local "+tc.age.String(), func(t *testing.T) {
			tb, clk := newTestTable(t, "a", policy.BreakerPolicy{})
			fail(t, tb, up)
			clk.Advance(tc.age)
			for range 4 {
				fail(t, tb, up)
			}
			wantPhase(t, tb, up, tc.want)
		})
		t.Run("evidence "+tc.age.String(), func(t *testing.T) {
			tb, clk := newTestTable(t, "a", policy.BreakerPolicy{})
			idx := clk.Now().UnixNano() / int64(time.Second) // Window/60
			clk.Advance(tc.age)
			tb.MergeEvidence("b", Evidence{Upstream: up, Buckets: []EvidenceBucket{{Index: idx, Failures: 1, Calls: 1}}})
			for range 4 {
				fail(t, tb, up)
			}
			wantPhase(t, tb, up, tc.want)
		})
		t.Run("evidence merged, then aged "+tc.age.String(), func(t *testing.T) {
			tb, clk := newTestTable(t, "a", policy.BreakerPolicy{})
			idx := clk.Now().UnixNano() / int64(time.Second)
			tb.MergeEvidence("b", Evidence{Upstream: up, Buckets: []EvidenceBucket{{Index: idx, Failures: 1, Calls: 1}}})
			clk.Advance(tc.age)
			for range 4 {
				fail(t, tb, up)
			}
			wantPhase(t, tb, up, tc.want)
		})
	}
}

// TestStaleProbeCannotReopen: with HalfOpenProbes 2, once one probe's
// success closed the breaker, the other probe's failure is of a breaker
// that is gone: it neither re-opens it nor starts a new generation.
func TestStaleProbeCannotReopen(t *testing.T) {
	tb, clk := newTestTable(t, "a", policy.BreakerPolicy{HalfOpenProbes: 2})
	tripBy(t, tb, up)
	clk.Advance(30 * time.Second)
	p1, err1 := tb.Admit(up)
	p2, err2 := tb.Admit(up)
	if err1 != nil || err2 != nil {
		t.Fatalf("two probes: %v, %v", err1, err2)
	}
	tb.Settle(p1, OutcomeSuccess, time.Millisecond)
	wantPhase(t, tb, up, PhaseClosed)
	tb.Settle(p2, OutcomeFailure, 0)
	wantPhase(t, tb, up, PhaseClosed)
	if rec, _ := tb.Record(up); rec.Gen != 1 || rec.Phase != PhaseClosed {
		t.Fatalf("after the stale probe failed: %v gen %d, want closed gen 1", rec.Phase, rec.Gen)
	}
	// Nor is it one of the window's failures: four fresh ones do not open.
	for range 4 {
		fail(t, tb, up)
	}
	wantPhase(t, tb, up, PhaseClosed)
}

// TestFailureLeavesTheWindowStepByStep: a failure leaves the window 61
// buckets later also when the window advanced in steps, each clearing the
// buckets it passes.
func TestFailureLeavesTheWindowStepByStep(t *testing.T) {
	tb, clk := newTestTable(t, "a", policy.BreakerPolicy{})
	fail(t, tb, up)
	clk.Advance(30 * time.Second)
	fail(t, tb, up)
	clk.Advance(31 * time.Second) // the first failure is 61s old
	for range 3 {
		fail(t, tb, up)
	}
	wantPhase(t, tb, up, PhaseClosed) // 4 in the window
	fail(t, tb, up)
	wantPhase(t, tb, up, PhaseOpen)
}

// TestStaleReporterNotCounted: a node whose evidence has left the window
// is not one of the MinReporters.
func TestStaleReporterNotCounted(t *testing.T) {
	tb, clk := newTestTable(t, "a", policy.BreakerPolicy{MinReporters: 3})
	bucket := func() int64 { return clk.Now().UnixNano() / int64(time.Second) }
	tb.MergeEvidence("b", Evidence{Upstream: up, Buckets: []EvidenceBucket{{Index: bucket(), Failures: 1, Calls: 1}}})
	clk.Advance(62 * time.Second)
	for range 3 {
		fail(t, tb, up)
	}
	tb.MergeEvidence("c", Evidence{Upstream: up, Buckets: []EvidenceBucket{{Index: bucket(), Failures: 2, Calls: 2}}})
	wantPhase(t, tb, up, PhaseClosed) // 5 failures, but from a and c only
	tb.MergeEvidence("d", Evidence{Upstream: up, Buckets: []EvidenceBucket{{Index: bucket(), Failures: 1, Calls: 1}}})
	wantPhase(t, tb, up, PhaseOpen)
}

// TestEvidenceFromAClockAheadCountsOnce: a node whose clock is ahead (within
// MaxSkew) numbers its buckets ahead of this node's newest. Its counts,
// re-sent as they grow while this node's clock moves on, are still merged
// by max per bucket: b's three failures in one bucket of its own, sent as
// 1, 2 and 3 while a's newest bucket moved once, are three failures, not
// the five a fold of b's bucket into a's newest one made of them (issue 12,
// soak seed 2: node-6's three failures counted as four).
func TestEvidenceFromAClockAheadCountsOnce(t *testing.T) {
	a, clk := newTestTable(t, "a", policy.BreakerPolicy{}) // threshold 5, buckets of 1s from a whole second
	b, err := NewTable(Config{Node: "b", Now: func() time.Time { return clk.Now().Add(1500 * time.Millisecond) }})
	if err != nil {
		t.Fatal(err)
	}
	// b fails at a's 0.6s, 0.9s and 1.2s (all in b's bucket 2: 2.1s to
	// 2.7s; a's newest moves from bucket 0 to 1 in between), then at 2.1s
	// (b's bucket 3).
	var at time.Duration
	for i, d := range []time.Duration{600, 300, 300, 900} {
		at += d * time.Millisecond
		clk.Advance(d * time.Millisecond)
		fail(t, b, up)
		for _, ev := range b.PendingEvidence(nil) {
			if a.MergeEvidence("b", ev) {
				t.Fatalf("a tripped at %v on b's evidence, sent as it grew: b has %d failures", at, i+1)
			}
		}
	}
	wantPhase(t, a, up, PhaseClosed)
	fail(t, a, up) // the fleet's fifth failure
	wantPhase(t, a, up, PhaseOpen)
	if rec, _ := a.Record(up); rec.Reason != "fleet failure threshold reached" {
		t.Fatalf("opened for %q, want the fleet's threshold", rec.Reason)
	}
	if n := a.Stats().EvidenceAhead; n != 0 {
		t.Errorf("EvidenceAhead = %d, want 0 (b is within MaxSkew)", n)
	}
}

// TestEvidenceBeyondMaxSkewIsDropped: buckets more than MaxSkew ahead of
// this node's clock are dropped and counted, not folded into its newest
// bucket (where each re-send would count again) nor kept until this node's
// clock reaches them.
func TestEvidenceBeyondMaxSkewIsDropped(t *testing.T) {
	a, clk := newTestTable(t, "a", policy.BreakerPolicy{}) // MaxSkew 2s, buckets of 1s
	idx := clk.Now().UnixNano() / int64(time.Second)
	ev := func(ahead int64) Evidence {
		return Evidence{Upstream: up, Buckets: []EvidenceBucket{{Index: idx + ahead, Failures: 4, Calls: 4}}}
	}
	a.MergeEvidence("far", ev(4))
	fail(t, a, up)
	wantPhase(t, a, up, PhaseClosed)
	if n := a.Stats().EvidenceAhead; n != 1 {
		t.Fatalf("EvidenceAhead = %d, want 1", n)
	}
	a.MergeEvidence("near", ev(3)) // 2s + one bucket of rounding
	wantPhase(t, a, up, PhaseOpen)
}

// TestIdleSweepKeepsEvidenceAhead: evidence from a clock ahead of this
// node's leaves the window by that clock, also when the window was idle
// here: the idle sweep frees a window only once the origin's newest
// bucket, not just this node's, is a whole window old.
func TestIdleSweepKeepsEvidenceAhead(t *testing.T) {
	a, clk := newTestTable(t, "a", policy.BreakerPolicy{}) // threshold 5, buckets of 1s
	idx := clk.Now().UnixNano() / int64(time.Second)
	// b's clock is 2s ahead: its bucket is two ahead of a's newest.
	a.MergeEvidence("b", Evidence{Upstream: up, Buckets: []EvidenceBucket{{Index: idx + 2, Failures: 4, Calls: 4}}})
	clk.Advance(62 * time.Second) // a's newest bucket is 62 old, b's 60
	a.EvictIdle()
	fail(t, a, up) // with b's four, the fleet's fifth
	wantPhase(t, a, up, PhaseOpen)
}
