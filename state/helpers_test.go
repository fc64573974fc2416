package state

import (
	"sync"
	"testing"
	"time"

	"github.com/proxywhirl/retrycoord/policy"
)

// fakeClock is a settable wall clock for tests.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{t: time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// newTestTable returns a table on a fake clock with the given policy.
func newTestTable(t testing.TB, node string, p policy.BreakerPolicy) (*Table, *fakeClock) {
	t.Helper()
	clk := newFakeClock()
	tb, err := NewTable(Config{Policy: p, Node: node, Now: clk.Now})
	if err != nil {
		t.Fatalf("NewTable: %v", err)
	}
	return tb, clk
}

// fail admits one call to upstream and settles it as a failure.
func fail(t testing.TB, tb *Table, upstream string) {
	t.Helper()
	tk, err := tb.Admit(upstream)
	if err != nil {
		t.Fatalf("Admit(%q): %v", upstream, err)
	}
	tb.Settle(tk, OutcomeFailure, 0)
}

// succeed admits one call to upstream and settles it as a success.
func succeed(t testing.TB, tb *Table, upstream string, latency time.Duration) {
	t.Helper()
	tk, err := tb.Admit(upstream)
	if err != nil {
		t.Fatalf("Admit(%q): %v", upstream, err)
	}
	tb.Settle(tk, OutcomeSuccess, latency)
}

func wantPhase(t testing.TB, tb *Table, upstream string, want Phase) {
	t.Helper()
	if got := tb.State(upstream); got != want {
		t.Fatalf("State(%q) = %v, want %v", upstream, got, want)
	}
}
