package state

import (
	"errors"
	"testing"
	"time"
)

// A ProxyRef whose breaker an eviction sweep removed must not go on
// answering from the removed breaker: the proxy tripped since (on the
// breaker that replaced it) is open through the ref too.
func TestProxyRefFollowsEviction(t *testing.T) {
	clk := newFakeClock()
	tb, err := NewTable(Config{Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	var ref ProxyRef
	var s Scoped
	if _, err := tb.AdmitScopedRef(&s, &ref, up, ""); err != nil {
		t.Fatal(err)
	}
	tb.SettleScoped(&s, OutcomeSuccess, 0, 0)
	// Two sweeps: the first clears the use mark, the second removes the
	// untouched pristine breaker.
	tb.EvictIdle()
	if n := tb.EvictIdle(); n != 1 {
		t.Fatalf("evicted %d breakers, want the proxy's", n)
	}
	tb.Trip(up, time.Minute, "operator")
	if tb.EligibleScopedRef(&ref, up, "") {
		t.Error("EligibleScopedRef: eligible through the removed breaker")
	}
	if _, err := tb.AdmitScopedRef(&s, &ref, up, ""); !errors.Is(err, ErrOpen) {
		t.Errorf("AdmitScopedRef = %v, want ErrOpen", err)
	}
	if tb.Len() != 1 {
		t.Errorf("Len = %d, want the one breaker", tb.Len())
	}
}

// A ProxyRef sees its proxy's breaker trip through other callers, and
// failures admitted through it count on the table's breaker.
func TestProxyRefSharesTheBreaker(t *testing.T) {
	tb, err := NewTable(Config{})
	if err != nil {
		t.Fatal(err)
	}
	var ref ProxyRef
	if !tb.EligibleScopedRef(&ref, up, "") {
		t.Fatal("a proxy never seen is not eligible")
	}
	for i := 0; tb.State(up) == PhaseClosed; i++ {
		if i == 1000 {
			t.Fatal("1000 failures through the ref did not open the proxy")
		}
		var s Scoped
		if _, err := tb.AdmitScopedRef(&s, &ref, up, ""); err != nil {
			t.Fatal(err)
		}
		tb.SettleScoped(&s, OutcomeFailure, LevelProxy, 0)
	}
	if tb.Eligible(up) || tb.EligibleScopedRef(&ref, up, "") {
		t.Error("open proxy still eligible")
	}
}
