package state

import (
	"fmt"
	"testing"

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
