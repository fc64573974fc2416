package state

import (
	"testing"
	"time"

	"github.com/proxywhirl/retrycoord/policy"
)

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

func TestOperatorTrip(t *testing.T) {
	tb, clk := newTestTable(t, "a", policy.BreakerPolicy{})
	manual := "http://10.0.0.1:1"
	failed := "http://10.0.0.2:1"
	rec := tb.Trip(manual, time.Second, "")
	tripBy(t, tb, failed)
	if !tb.OperatorTrip(manual, rec.Gen) {
		t.Fatal("an operator's trip is not reported as one")
	}
	if fr, _ := tb.Record(failed); tb.OperatorTrip(failed, fr.Gen) {
		t.Fatal("a trip by failures is reported as an operator's")
	}
	if failing, active := tb.OwnFailing(1); failing != 1 || active != 2 {
		t.Fatalf("OwnFailing = %d of %d, want 1 of 2 (the operator's trip is no failure seen)", failing, active)
	}
	// Once its probe fails, the open is this node's own finding.
	clk.Advance(time.Second)
	probe, err := tb.Admit(manual)
	if err != nil {
		t.Fatal(err)
	}
	tb.Settle(probe, OutcomeFailure, 0)
	rec, _ = tb.Record(manual)
	if tb.OperatorTrip(manual, rec.Gen) {
		t.Fatal("a re-open after a failed probe is still reported as the operator's")
	}
}
