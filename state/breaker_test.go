package state

import (
	"errors"
	"testing"
	"time"

	"github.com/proxywhirl/retrycoord/policy"
)

const up = "http://10.0.0.1:8080"

func TestFiveFailuresWithinWindowOpen(t *testing.T) {
	tb, clk := newTestTable(t, "a", policy.BreakerPolicy{})
	for i := range 4 {
		fail(t, tb, up)
		clk.Advance(10 * time.Second)
		wantPhase(t, tb, up, PhaseClosed)
		_ = i
	}
	fail(t, tb, up)
	wantPhase(t, tb, up, PhaseOpen)
	if _, err := tb.Admit(up); !errors.Is(err, ErrOpen) {
		t.Fatalf("Admit on open breaker: err = %v, want ErrOpen", err)
	}
	rec, ok := tb.Record(up)
	if !ok || rec.Gen != 1 || rec.Phase != PhaseOpen || rec.Origin != "a" || rec.OpenFor != 30*time.Second {
		t.Fatalf("Record = %+v, %v; want gen 1 open from a for 30s", rec, ok)
	}
}

func TestFailureAtWindowEdge(t *testing.T) {
	t.Run("exactly Window old still counts", func(t *testing.T) {
		tb, clk := newTestTable(t, "a", policy.BreakerPolicy{})
		fail(t, tb, up)
		clk.Advance(60 * time.Second)
		for range 4 {
			fail(t, tb, up)
		}
		wantPhase(t, tb, up, PhaseOpen)
	})
	t.Run("older than Window plus one bucket is gone", func(t *testing.T) {
		tb, clk := newTestTable(t, "a", policy.BreakerPolicy{})
		fail(t, tb, up)
		clk.Advance(61*time.Second + time.Millisecond)
		for range 4 {
			fail(t, tb, up)
		}
		wantPhase(t, tb, up, PhaseClosed)
		fail(t, tb, up)
		wantPhase(t, tb, up, PhaseOpen)
	})
}

func tripBy(t *testing.T, tb *Table, upstream string) {
	t.Helper()
	for range tb.Policy().FailureThreshold {
		fail(t, tb, upstream)
	}
	wantPhase(t, tb, upstream, PhaseOpen)
}

func TestExactlyOneProbeAfterOpenTimeout(t *testing.T) {
	tb, clk := newTestTable(t, "a", policy.BreakerPolicy{})
	tripBy(t, tb, up)
	clk.Advance(30*time.Second - time.Millisecond)
	if _, err := tb.Admit(up); !errors.Is(err, ErrOpen) {
		t.Fatalf("Admit before open time ran out: err = %v, want ErrOpen", err)
	}
	clk.Advance(time.Millisecond)
	probe, err := tb.Admit(up)
	if err != nil || !probe.Probe() {
		t.Fatalf("Admit after 30s = probe %v, err %v; want a probe", probe.Probe(), err)
	}
	wantPhase(t, tb, up, PhaseHalfOpen)
	for range 10 {
		if _, err := tb.Admit(up); !errors.Is(err, ErrOpen) {
			t.Fatalf("second Admit while probing: err = %v, want ErrOpen", err)
		}
	}
}

func TestProbeOutcome(t *testing.T) {
	t.Run("success closes", func(t *testing.T) {
		tb, clk := newTestTable(t, "a", policy.BreakerPolicy{})
		tripBy(t, tb, up)
		clk.Advance(30 * time.Second)
		probe, _ := tb.Admit(up)
		tb.Settle(probe, OutcomeSuccess, time.Millisecond)
		wantPhase(t, tb, up, PhaseClosed)
		rec, _ := tb.Record(up)
		if rec.Gen != 1 || rec.Phase != PhaseClosed {
			t.Fatalf("Record = %+v, want gen 1 closed", rec)
		}
		// The window starts afresh: four failures do not re-open.
		for range 4 {
			fail(t, tb, up)
		}
		wantPhase(t, tb, up, PhaseClosed)
	})
	t.Run("failure re-opens and restarts the timer", func(t *testing.T) {
		tb, clk := newTestTable(t, "a", policy.BreakerPolicy{})
		tripBy(t, tb, up)
		clk.Advance(30 * time.Second)
		probe, _ := tb.Admit(up)
		clk.Advance(2 * time.Second)
		tb.Settle(probe, OutcomeFailure, 0)
		wantPhase(t, tb, up, PhaseOpen)
		rec, _ := tb.Record(up)
		if rec.Gen != 2 || rec.OpenFor != 30*time.Second {
			t.Fatalf("Record = %+v, want gen 2 open for 30s", rec)
		}
		clk.Advance(30*time.Second - time.Millisecond)
		if tb.Eligible(up) {
			t.Fatal("Eligible before the restarted timer ran out")
		}
		clk.Advance(time.Millisecond)
		if !tb.Eligible(up) {
			t.Fatal("not Eligible after the restarted timer ran out")
		}
	})
}

func TestReadingNeverTakesAPermit(t *testing.T) {
	tb, clk := newTestTable(t, "a", policy.BreakerPolicy{})
	tripBy(t, tb, up)
	clk.Advance(30 * time.Second)
	for range 100 {
		if !tb.Eligible(up) {
			t.Fatal("Eligible = false once open time ran out")
		}
		_ = tb.State(up)
		_, _ = tb.Record(up)
		_ = tb.Snapshot()
	}
	if _, err := tb.Admit(up); err != nil {
		t.Fatalf("Admit after 100 reads: %v (a read took the permit)", err)
	}
	if tb.Eligible(up) {
		t.Fatal("Eligible while the only permit is taken")
	}
}

func TestProbePermitReturned(t *testing.T) {
	t.Run("abandoned", func(t *testing.T) {
		tb, clk := newTestTable(t, "a", policy.BreakerPolicy{})
		tripBy(t, tb, up)
		clk.Advance(30 * time.Second)
		probe, _ := tb.Admit(up)
		tb.Settle(probe, OutcomeAbandoned, 0)
		wantPhase(t, tb, up, PhaseHalfOpen)
		if _, err := tb.Admit(up); err != nil {
			t.Fatalf("Admit after abandoned probe: %v", err)
		}
	})
	t.Run("lease expired", func(t *testing.T) {
		tb, clk := newTestTable(t, "a", policy.BreakerPolicy{})
		tripBy(t, tb, up)
		clk.Advance(30 * time.Second)
		if _, err := tb.Admit(up); err != nil {
			t.Fatal(err)
		}
		clk.Advance(10*time.Second - time.Millisecond)
		if _, err := tb.Admit(up); !errors.Is(err, ErrOpen) {
			t.Fatalf("Admit within lease: %v, want ErrOpen", err)
		}
		clk.Advance(time.Millisecond)
		if _, err := tb.Admit(up); err != nil {
			t.Fatalf("Admit after lease: %v", err)
		}
	})
	t.Run("several permits", func(t *testing.T) {
		tb, clk := newTestTable(t, "a", policy.BreakerPolicy{HalfOpenProbes: 3})
		tripBy(t, tb, up)
		clk.Advance(30 * time.Second)
		for i := range 3 {
			if _, err := tb.Admit(up); err != nil {
				t.Fatalf("permit %d: %v", i, err)
			}
		}
		if _, err := tb.Admit(up); !errors.Is(err, ErrOpen) {
			t.Fatalf("fourth permit: %v, want ErrOpen", err)
		}
	})
}

func TestStaleTicketIgnored(t *testing.T) {
	tb, clk := newTestTable(t, "a", policy.BreakerPolicy{})
	old, _ := tb.Admit(up)
	tb.Trip(up, 0, "test")
	clk.Advance(30 * time.Second)
	probe, _ := tb.Admit(up)
	tb.Settle(probe, OutcomeSuccess, 0)
	wantPhase(t, tb, up, PhaseClosed)
	tb.Settle(old, OutcomeFailure, 0) // from generation 0: must not count
	if _, ok := tb.Evidence(up); ok {
		t.Fatal("a stale ticket's failure was counted")
	}
	if got := tb.Stats().StaleSettles; got != 1 {
		t.Fatalf("StaleSettles = %d, want 1", got)
	}
	var zero Ticket
	tb.Settle(zero, OutcomeFailure, 0) // no-op, no panic
}

func TestRates(t *testing.T) {
	t.Run("failure rate", func(t *testing.T) {
		tb, _ := newTestTable(t, "a", policy.BreakerPolicy{FailureThreshold: 1000, FailureRate: 0.5, MinCalls: 20})
		for i := range 19 {
			if i%2 == 0 {
				fail(t, tb, up)
			} else {
				succeed(t, tb, up, 0)
			}
		}
		wantPhase(t, tb, up, PhaseClosed) // 10 of 19: below MinCalls
		succeed(t, tb, up, 0)
		wantPhase(t, tb, up, PhaseOpen) // 10 of 20 = 50%
	})
	t.Run("slow-call rate", func(t *testing.T) {
		tb, _ := newTestTable(t, "a", policy.BreakerPolicy{SlowCall: time.Second, SlowCallRate: 0.8, MinCalls: 10})
		for range 7 {
			succeed(t, tb, up, 2*time.Second)
		}
		for range 2 {
			succeed(t, tb, up, 10*time.Millisecond)
		}
		wantPhase(t, tb, up, PhaseClosed)
		succeed(t, tb, up, 3*time.Second) // 8 of 10 slow
		wantPhase(t, tb, up, PhaseOpen)
		rec, _ := tb.Record(up)
		if rec.Reason != "slow-call rate reached" {
			t.Fatalf("Reason = %q", rec.Reason)
		}
	})
}

func TestOpenTimeGrowsOnConsecutiveTrips(t *testing.T) {
	tb, clk := newTestTable(t, "a", policy.BreakerPolicy{OpenBackoff: 2, MaxOpenTimeout: 100 * time.Second})
	tripBy(t, tb, up)
	want := []time.Duration{60 * time.Second, 100 * time.Second, 100 * time.Second}
	rec, _ := tb.Record(up)
	if rec.OpenFor != 30*time.Second {
		t.Fatalf("first open time = %v, want exactly 30s", rec.OpenFor)
	}
	for i, w := range want {
		clk.Advance(rec.OpenFor)
		probe, err := tb.Admit(up)
		if err != nil {
			t.Fatalf("trip %d: probe: %v", i+2, err)
		}
		tb.Settle(probe, OutcomeFailure, 0)
		rec, _ = tb.Record(up)
		lo, hi := time.Duration(float64(w)*0.9), time.Duration(float64(w)*1.1)
		if w == 100*time.Second {
			lo, hi = 90*time.Second, 100*time.Second
		}
		if rec.OpenFor < lo || rec.OpenFor > hi {
			t.Fatalf("trip %d: open time %v, want within [%v, %v]", i+2, rec.OpenFor, lo, hi)
		}
	}
	clk.Advance(rec.OpenFor)
	probe, _ := tb.Admit(up)
	tb.Settle(probe, OutcomeSuccess, 0)
	tripBy(t, tb, up)
	if rec, _ = tb.Record(up); rec.OpenFor != 30*time.Second {
		t.Fatalf("open time after a close = %v, want 30s again", rec.OpenFor)
	}
}

func TestProbeOwnership(t *testing.T) {
	tb, clk := newTestTable(t, "b", policy.BreakerPolicy{})
	tb.SetProbeOwner(func(string) bool { return false })
	tripBy(t, tb, up)
	clk.Advance(30 * time.Second)
	if tb.Eligible(up) {
		t.Fatal("a node that does not own the probe is eligible at once")
	}
	if _, err := tb.Admit(up); !errors.Is(err, ErrOpen) {
		t.Fatalf("non-owner Admit: %v, want ErrOpen", err)
	}
	clk.Advance(5 * time.Second) // ProbeGrace: the owner was silent
	if _, err := tb.Admit(up); err != nil {
		t.Fatalf("non-owner Admit after grace: %v", err)
	}
}

// TestProbeOwnerCalledWithoutLock: the probe-owner hook is asked before the
// breaker is locked, so the core calls nothing while it holds the lock.
func TestProbeOwnerCalledWithoutLock(t *testing.T) {
	tb, clk := newTestTable(t, "b", policy.BreakerPolicy{})
	var calls, locked int
	tb.SetProbeOwner(func(u string) bool {
		calls++
		if b := tb.lookup(ProxyKey(u), false); b != nil {
			if !b.mu.TryLock() {
				locked++
			} else {
				b.mu.Unlock()
			}
		}
		return true
	})
	tripBy(t, tb, up)
	clk.Advance(30 * time.Second)
	if !tb.Eligible(up) {
		t.Fatal("the owner is not eligible once the open time ran out")
	}
	if _, err := tb.Admit(up); err != nil {
		t.Fatalf("owner Admit: %v", err)
	}
	if calls == 0 || locked != 0 {
		t.Fatalf("hook called %d times, %d of them with the breaker locked; want > 0 and 0", calls, locked)
	}
}

func TestRemoteHalfOpenHoldsOthersBack(t *testing.T) {
	a, clkA := newTestTable(t, "a", policy.BreakerPolicy{})
	b, clkB := newTestTable(t, "b", policy.BreakerPolicy{})
	rec := a.Trip(up, time.Second, "test")
	b.Merge(rec, SourceGossip)
	clkA.Advance(time.Second)
	clkB.Advance(time.Second)
	if _, err := a.Admit(up); err != nil {
		t.Fatal(err)
	}
	half, _ := a.Record(up)
	if !b.Merge(half, SourceGossip) {
		t.Fatal("b did not take a's half-open record")
	}
	if _, err := b.Admit(up); !errors.Is(err, ErrOpen) {
		t.Fatalf("b Admit while a probes: %v, want ErrOpen", err)
	}
	clkB.Advance(15 * time.Second) // ProbeLease + ProbeGrace: a went silent
	if _, err := b.Admit(up); err != nil {
		t.Fatalf("b Admit after a went silent: %v", err)
	}
}

func TestResetAndTrip(t *testing.T) {
	tb, _ := newTestTable(t, "a", policy.BreakerPolicy{})
	if _, changed := tb.Reset(up); changed {
		t.Fatal("Reset of a closed breaker changed it")
	}
	rec := tb.Trip(up, 5*time.Minute, "")
	if rec.Gen != 1 || rec.Phase != PhaseOpen || rec.OpenFor != 5*time.Minute || rec.Reason != "tripped by operator" {
		t.Fatalf("Trip = %+v", rec)
	}
	rec, changed := tb.Reset(up)
	if !changed || rec.Gen != 1 || rec.Phase != PhaseClosed {
		t.Fatalf("Reset = %+v, %v; want gen 1 closed", rec, changed)
	}
}

func TestPhaseText(t *testing.T) {
	for _, p := range []Phase{PhaseOpen, PhaseHalfOpen, PhaseClosed} {
		b, _ := p.MarshalText()
		var got Phase
		if err := got.UnmarshalText(b); err != nil || got != p {
			t.Errorf("round trip of %v: %v, %v", p, got, err)
		}
	}
	var p Phase
	if err := p.UnmarshalText([]byte("ajar")); err == nil {
		t.Error("UnmarshalText(ajar) succeeded")
	}
}
