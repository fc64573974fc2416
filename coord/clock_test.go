package coord

import (
	"testing"
	"time"
)

// The default clock answers from its anchor and the monotonic time since,
// and reads the wall clock again once the anchor is reanchorEvery old.
func TestWallClockReanchors(t *testing.T) {
	c := newWallClock()
	c.every = time.Hour
	fresh := time.Now()
	c.anchor.Store(&fresh)
	if n := c.Now(); c.anchor.Load() != &fresh || n.Before(fresh) {
		t.Errorf("fresh anchor: Now = %v, anchor replaced: %v", n, c.anchor.Load() != &fresh)
	}
	old := time.Now().Add(-2 * time.Hour)
	c.anchor.Store(&old)
	before := time.Now()
	n := c.Now()
	a := c.anchor.Load()
	if a == &old {
		t.Fatal("an anchor older than every was kept")
	}
	if !n.Equal(*a) || n.Before(before) {
		t.Errorf("Now = %v after re-anchoring at %v, read at %v", n, *a, before)
	}
	// The elapsed time comes from the monotonic clock: a latency
	// measured with the clock is never negative.
	start := c.Now()
	if d := c.Now().Sub(start); d < 0 {
		t.Errorf("latency %v", d)
	}
}
