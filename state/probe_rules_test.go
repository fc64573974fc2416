package state

import (
	"errors"
	"testing"
	"time"

	"github.com/proxywhirl/retrycoord/policy"
)

// Boundaries of the probe rules, found by mutation testing (make mutate):
// reading (Eligible) agrees with acquiring (Admit) at every edge.

// TestRemoteProbeTakeoverAtLeasePlusGrace: while another node's half-open
// record holds the breaker, this node waits ProbeLease + ProbeGrace (10s +
// 5s) from when it merged it, and not a millisecond less, before it probes
// itself.
func TestRemoteProbeTakeoverAtLeasePlusGrace(t *testing.T) {
	a, clkA := newTestTable(t, "a", policy.BreakerPolicy{})
	b, clkB := newTestTable(t, "b", policy.BreakerPolicy{})
	b.Merge(a.Trip(up, time.Second, "test"), SourceGossip)
	clkA.Advance(time.Second)
	clkB.Advance(time.Second)
	if _, err := a.Admit(up); err != nil {
		t.Fatal(err)
	}
	half, _ := a.Record(up)
	b.Merge(half, SourceGossip)
	clkB.Advance(15*time.Second - time.Millisecond)
	if b.Eligible(up) {
		t.Error("Eligible 1ms before ProbeLease + ProbeGrace")
	}
	if _, err := b.Admit(up); !errors.Is(err, ErrOpen) {
		t.Fatalf("Admit 1ms before ProbeLease + ProbeGrace: %v, want ErrOpen", err)
	}
	clkB.Advance(time.Millisecond)
	if !b.Eligible(up) {
		t.Error("not Eligible at ProbeLease + ProbeGrace")
	}
	if _, err := b.Admit(up); err != nil {
		t.Fatalf("Admit at ProbeLease + ProbeGrace: %v", err)
	}
}

// TestNonOwnerEligibleAtGrace: a node that does not own the probe becomes
// eligible exactly ProbeGrace after the open time ran out, as Admit does.
func TestNonOwnerEligibleAtGrace(t *testing.T) {
	tb, clk := newTestTable(t, "b", policy.BreakerPolicy{})
	tb.SetProbeOwner(func(string) bool { return false })
	tripBy(t, tb, up)
	clk.Advance(35*time.Second - time.Millisecond)
	if tb.Eligible(up) {
		t.Error("Eligible 1ms before OpenTimeout + ProbeGrace")
	}
	clk.Advance(time.Millisecond)
	if !tb.Eligible(up) {
		t.Error("not Eligible at OpenTimeout + ProbeGrace")
	}
	if _, err := tb.Admit(up); err != nil {
		t.Fatalf("Admit at OpenTimeout + ProbeGrace: %v", err)
	}
}

// TestEligibleCountsPermitsWhileProbing: on the probing node, Eligible says
// whether a permit is left (HalfOpenProbes 2), and a lease that ran out
// (ProbeLease 10s, exactly) is a permit left, as Admit finds it.
func TestEligibleCountsPermitsWhileProbing(t *testing.T) {
	tb, clk := newTestTable(t, "a", policy.BreakerPolicy{HalfOpenProbes: 2})
	tripBy(t, tb, up)
	clk.Advance(30 * time.Second)
	if _, err := tb.Admit(up); err != nil {
		t.Fatal(err)
	}
	if !tb.Eligible(up) {
		t.Fatal("one of two permits taken: not Eligible")
	}
	if _, err := tb.Admit(up); err != nil {
		t.Fatal(err)
	}
	if tb.Eligible(up) {
		t.Fatal("both permits taken: Eligible")
	}
	clk.Advance(10*time.Second - time.Millisecond)
	if tb.Eligible(up) {
		t.Fatal("Eligible 1ms before the leases ran out")
	}
	clk.Advance(time.Millisecond)
	if !tb.Eligible(up) {
		t.Fatal("the leases ran out: not Eligible")
	}
	if _, err := tb.Admit(up); err != nil {
		t.Fatalf("Admit once the leases ran out: %v", err)
	}
}

// TestSlowCallBoundary: a call exactly SlowCall long is not slow, and one
// slow call of ten is 10%, well below SlowCallRate.
func TestSlowCallBoundary(t *testing.T) {
	p := policy.BreakerPolicy{SlowCall: time.Second, SlowCallRate: 0.5, MinCalls: 10}
	t.Run("exactly SlowCall", func(t *testing.T) {
		tb, _ := newTestTable(t, "a", p)
		for range 10 {
			succeed(t, tb, up, time.Second)
		}
		wantPhase(t, tb, up, PhaseClosed)
	})
	t.Run("one of ten", func(t *testing.T) {
		tb, _ := newTestTable(t, "a", p)
		succeed(t, tb, up, 2*time.Second)
		for range 9 {
			succeed(t, tb, up, time.Millisecond)
		}
		wantPhase(t, tb, up, PhaseClosed)
	})
	t.Run("five of ten", func(t *testing.T) {
		tb, _ := newTestTable(t, "a", p)
		for range 5 {
			succeed(t, tb, up, time.Millisecond)
		}
		for range 5 {
			succeed(t, tb, up, time.Second+time.Nanosecond)
		}
		wantPhase(t, tb, up, PhaseOpen)
	})
}

// TestMinFailureRateBoundary: five failures open the breaker when they are
// at least MinFailureRate (0.5) of the calls counted since the window's
// first failure: 5 of 10 opens, 5 of 11 does not.
func TestMinFailureRateBoundary(t *testing.T) {
	for _, tc := range []struct {
		successes int
		want      Phase
	}{{5, PhaseOpen}, {6, PhaseClosed}} {
		tb, _ := newTestTable(t, "a", policy.BreakerPolicy{})
		fail(t, tb, up) // counting starts here
		for range tc.successes {
			succeed(t, tb, up, 0)
		}
		for range 4 {
			fail(t, tb, up)
		}
		if got := tb.State(up); got != tc.want {
			t.Errorf("5 failures of %d calls: %v, want %v", 5+tc.successes, got, tc.want)
		}
	}
}

// TestHalfASlowCallRuleIsOff: a slow-call rule needs both SlowCall and
// SlowCallRate; either alone has no effect, so successes are not counted
// before the first failure (a rate would need them) and five failures after
// many successes still open the breaker, as with no slow-call rule at all.
func TestHalfASlowCallRuleIsOff(t *testing.T) {
	for _, p := range []policy.BreakerPolicy{
		{},
		{SlowCall: time.Second},
		{SlowCallRate: 0.5},
	} {
		tb, _ := newTestTable(t, "a", p)
		for range 50 {
			succeed(t, tb, up, 2*time.Second)
		}
		for range 5 {
			fail(t, tb, up)
		}
		if got := tb.State(up); got != PhaseOpen {
			t.Errorf("SlowCall %v, SlowCallRate %v: 50 successes then 5 failures: %v, want open", p.SlowCall, p.SlowCallRate, got)
		}
	}
}
