package state

import (
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/proxywhirl/retrycoord/policy"
)

// fleet is a set of tables that exchange evidence by hand, as cluster would.
type fleet []*Table

func newFleet(t *testing.T, n int, p policy.BreakerPolicy) fleet {
	t.Helper()
	clk := newFakeClock()
	var f fleet
	for i := range n {
		tb, err := NewTable(Config{Policy: p, Node: fmt.Sprintf("n%d", i), Now: clk.Now})
		if err != nil {
			t.Fatal(err)
		}
		f = append(f, tb)
	}
	return f
}

// exchange sends every node's pending evidence to every other node, then
// spreads every record, as the cluster does with transitions.
func (f fleet) exchange() {
	for _, from := range f {
		for _, ev := range from.PendingEvidence(nil) {
			for _, to := range f {
				if to != from {
					to.MergeEvidence(from.Node(), ev)
				}
			}
		}
	}
	for _, from := range f {
		for _, rec := range from.Snapshot() {
			for _, to := range f {
				to.Merge(rec, SourceGossip)
			}
		}
	}
}

func (f fleet) phases(upstream string) []Phase {
	var out []Phase
	for _, tb := range f {
		out = append(out, tb.State(upstream))
	}
	return out
}

func TestFleetEvidence(t *testing.T) {
	t.Run("five nodes, one failure each, trip fleet-wide", func(t *testing.T) {
		f := newFleet(t, 5, policy.BreakerPolicy{})
		for _, tb := range f {
			fail(t, tb, up)
		}
		f.exchange()
		for i, p := range f.phases(up) {
			if p != PhaseOpen {
				t.Errorf("node %d: %v, want open", i, p)
			}
		}
	})
	t.Run("three on one node and one on another trip nothing", func(t *testing.T) {
		f := newFleet(t, 5, policy.BreakerPolicy{})
		for range 3 {
			fail(t, f[0], up)
		}
		fail(t, f[1], up)
		f.exchange()
		f.exchange() // again: counts are cumulative, never double-counted
		for i, p := range f.phases(up) {
			if p != PhaseClosed {
				t.Errorf("node %d: %v, want closed", i, p)
			}
		}
	})
	t.Run("MinReporters 3", func(t *testing.T) {
		f := newFleet(t, 5, policy.BreakerPolicy{MinReporters: 3})
		for range 4 {
			fail(t, f[0], up)
		}
		fail(t, f[1], up)
		f.exchange()
		for i, p := range f.phases(up) {
			if p != PhaseClosed {
				t.Fatalf("two reporters: node %d: %v, want closed", i, p)
			}
		}
		fail(t, f[2], up)
		f.exchange()
		for i, p := range f.phases(up) {
			if p != PhaseOpen {
				t.Errorf("three reporters: node %d: %v, want open", i, p)
			}
		}
	})
	t.Run("own echoes and other generations are ignored", func(t *testing.T) {
		f := newFleet(t, 2, policy.BreakerPolicy{})
		for range 4 {
			fail(t, f[0], up)
		}
		ev, ok := f[0].Evidence(up)
		if !ok || len(ev.Buckets) != 1 || ev.Buckets[0].Failures != 4 {
			t.Fatalf("Evidence = %+v, %v", ev, ok)
		}
		if f[0].MergeEvidence(f[0].Node(), ev) || f[0].Stats().EvidenceEchoes != 1 {
			t.Fatal("a node counted its own evidence")
		}
		ev.Gen = 7
		if f[1].MergeEvidence("n0", ev) {
			t.Fatal("evidence of another generation tripped")
		}
		fail(t, f[1], up)
		if _, ok := f[1].Evidence(up); !ok {
			t.Fatal("no own evidence")
		}
		if got := f[1].PendingEvidence(nil); len(got) != 1 {
			t.Fatalf("PendingEvidence = %d entries, want 1", len(got))
		}
		if got := f[1].PendingEvidence(nil); len(got) != 0 {
			t.Fatalf("PendingEvidence again = %d entries, want 0 (nothing new failed)", len(got))
		}
	})
}

func TestOwnFailing(t *testing.T) {
	tb, err := NewTable(Config{Node: "a"})
	if err != nil {
		t.Fatal(err)
	}
	fail := func(up string, n int) {
		for range n {
			tk, err := tb.Admit(up)
			if err != nil {
				return
			}
			tb.Settle(tk, OutcomeFailure, 0)
		}
	}
	tk, _ := tb.Admit("http://ok:1")
	tb.Settle(tk, OutcomeSuccess, 0)
	fail("http://one:1", 1)
	fail("http://three:1", 3)
	fail("http://tripped:1", 5)
	tb.Merge(Record{Upstream: "http://remote:1", Gen: 1, Phase: PhaseOpen, HLC: 1, Origin: "b"}, SourceGossip)

	for _, tc := range []struct {
		min         int
		wantFailing int
	}{{1, 3}, {3, 2}, {4, 1}} {
		failing, active := tb.OwnFailing(tc.min)
		if failing != tc.wantFailing || active != 5 {
			t.Errorf("OwnFailing(%d) = %d, %d; want %d, 5", tc.min, failing, active, tc.wantFailing)
		}
	}
}

// TestOwnFailingLeavesOutOperatorTrips: an operator's trip says nothing
// about this node's network; a re-open after its failed probe does.
func TestOwnFailingLeavesOutOperatorTrips(t *testing.T) {
	tb, clk := newTestTable(t, "a", policy.BreakerPolicy{})
	manual := "http://10.0.0.1:1"
	failed := "http://10.0.0.2:1"
	tb.Trip(manual, time.Second, "")
	tripBy(t, tb, failed)
	if failing, active := tb.OwnFailing(1); failing != 1 || active != 2 {
		t.Fatalf("OwnFailing = %d of %d, want 1 of 2 (the operator's trip is no failure seen)", failing, active)
	}
	clk.Advance(time.Second)
	probe, err := tb.Admit(manual)
	if err != nil {
		t.Fatal(err)
	}
	tb.Settle(probe, OutcomeFailure, 0)
	if failing, _ := tb.OwnFailing(1); failing != 2 {
		t.Fatalf("OwnFailing after the probe failed = %d, want 2", failing)
	}
}

func TestReporters(t *testing.T) {
	// Thresholds out of reach, so that evidence piles up without a trip.
	tb, clk := newTestTable(t, "n0", policy.BreakerPolicy{FailureThreshold: 100, FleetThreshold: 100})
	k := ProxyKey(up)
	if n := tb.Reporters(k); n != 0 {
		t.Fatalf("Reporters of an unknown breaker = %d, want 0", n)
	}
	fail(t, tb, up)
	own, ok := tb.Evidence(up)
	if !ok {
		t.Fatal("no own evidence")
	}
	cur := own.Buckets[0].Index
	remote := func(idx int64, failures uint32) Evidence {
		return Evidence{Upstream: up, Buckets: []EvidenceBucket{{Index: idx, Failures: failures, Calls: failures}}}
	}
	tb.MergeEvidence("n1", remote(cur, 2))
	tb.MergeEvidence("n2", remote(cur-10, 1))
	tb.MergeEvidence("n3", remote(cur-windowSlots, 4)) // a bucket older than the window
	tb.MergeEvidence("n4", remote(cur, 0))             // calls, no failure
	if n := tb.Reporters(k); n != 3 {
		t.Errorf("Reporters = %d, want 3 (n0 itself, n1, n2; not n3's old bucket nor n4 without failures)", n)
	}

	// n2's bucket leaves the window first, then n0's and n1's.
	clk.Advance(51 * time.Second)
	if n := tb.Reporters(k); n != 2 {
		t.Errorf("Reporters 51 s on = %d, want 2 (n2's failure left the window)", n)
	}
	clk.Advance(10 * time.Second)
	if n := tb.Reporters(k); n != 0 {
		t.Errorf("Reporters a window on = %d, want 0", n)
	}
}

func TestReportersOfAnOpenBreaker(t *testing.T) {
	f := newFleet(t, 3, policy.BreakerPolicy{})
	k := ProxyKey(up)
	fail(t, f[0], up)
	fail(t, f[1], up)
	for range 3 {
		fail(t, f[2], up)
	}
	// n2 trips on the fleet's five failures, from three nodes; n0 and n1,
	// which never got n2's evidence (sent only while closed), learn the
	// record holding two nodes' failures each.
	f.exchange()
	for i, want := range []int{2, 2, 3} {
		if st := f[i].State(up); st != PhaseOpen {
			t.Fatalf("n%d: %v, want open", i, st)
		}
		if rec := f[i].Snapshot()[0]; rec.Origin != "n2" {
			t.Fatalf("n%d: opened by %q, want n2", i, rec.Origin)
		}
		// The window is gone; the count it opened on stays.
		if n := f[i].Reporters(k); n != want {
			t.Errorf("n%d: Reporters of the open breaker = %d, want %d", i, n, want)
		}
	}
	// An operator's trip rests on no evidence.
	tb, _ := newTestTable(t, "n0", policy.BreakerPolicy{})
	fail(t, tb, up)
	tb.MergeEvidence("n1", Evidence{Upstream: up, Buckets: mustEvidence(t, tb).Buckets})
	if n := tb.Reporters(k); n != 2 {
		t.Fatalf("Reporters before the trip = %d, want 2", n)
	}
	tb.Trip(up, time.Minute, "by hand")
	if n := tb.Reporters(k); n != 0 {
		t.Errorf("Reporters after an operator's trip = %d, want 0", n)
	}
}

func mustEvidence(t *testing.T, tb *Table) Evidence {
	t.Helper()
	ev, ok := tb.Evidence(up)
	if !ok {
		t.Fatal("no own evidence")
	}
	return ev
}

// TestPendingEvidenceOncePerBreakerInKeyOrder: the evidence of several
// breakers, each failing more than once, comes once per breaker, in key
// order (proxy, then site), whatever the order they failed in.
func TestPendingEvidenceOncePerBreakerInKeyOrder(t *testing.T) {
	tb, _ := newTestTable(t, "a", policy.BreakerPolicy{FailureThreshold: 100, FleetThreshold: 100})
	keys := []Key{
		PairKey("http://b:1", "z.example"), ProxyKey("http://c:1"), PairKey("http://b:1", "a.example"),
		SiteKey("m.example"), ProxyKey("http://a:1"), PairKey("http://a:1", "y.example"),
	}
	for range 2 {
		for _, k := range keys {
			tk, err := tb.AdmitAt(k)
			if err != nil {
				t.Fatal(err)
			}
			if k.Level() != LevelProxy {
				// Pairs and sites are created by their first failure.
				tb.settleOrCreate(k, tk, OutcomeFailure, 0)
				continue
			}
			tb.Settle(tk, OutcomeFailure, 0)
		}
	}
	var got []Key
	for _, ev := range tb.PendingEvidence(nil) {
		got = append(got, ev.Key())
	}
	want := []Key{
		SiteKey("m.example"), ProxyKey("http://a:1"), PairKey("http://a:1", "y.example"),
		PairKey("http://b:1", "a.example"), PairKey("http://b:1", "z.example"), ProxyKey("http://c:1"),
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("PendingEvidence keys (-want +got):\n%s", diff)
	}
}
