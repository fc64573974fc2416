package coord

import (
	"sync/atomic"
	"time"
)

// reanchorEvery is how long wallClock goes on from one reading of the
// wall clock before it reads the wall clock again.
const reanchorEvery = time.Second

// wallClock is the default Config.Now: time.Now for the price of a
// monotonic read. time.Now reads two clocks, the wall clock and the
// monotonic one; a coordinator reads the time twice per attempt (start
// and end), and on a virtual machine each clock read is a good part of
// what an attempt costs. wallClock reads the wall clock once a second
// (the anchor) and adds the monotonic time elapsed since. The Time it
// returns has the monotonic reading of time.Now exactly, so latencies are
// as exact as time.Now's; its wall reading is the anchor's plus the
// elapsed time, so a step of the system clock (NTP, an operator) shows up
// within reanchorEvery instead of at once.
type wallClock struct {
	anchor atomic.Pointer[time.Time]
	every  time.Duration // reanchorEvery
}

func newWallClock() *wallClock {
	c := &wallClock{every: reanchorEvery}
	now := time.Now()
	c.anchor.Store(&now)
	return c
}

// Now returns the current time.
func (c *wallClock) Now() time.Time {
	a := c.anchor.Load()
	d := time.Since(*a) // one monotonic read
	if d < 0 || d >= c.every {
		now := time.Now()
		c.anchor.Store(&now)
		return now
	}
	return a.Add(d)
}
