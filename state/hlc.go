package state

import (
	"sync"
	"sync/atomic"
	"time"
)

// HLC is a hybrid logical clock reading: the high 48 bits are wall time in
// milliseconds since the Unix epoch, the low 16 bits a logical counter that
// orders events within one millisecond. HLCs compare as plain integers.
type HLC uint64

const hlcLogicalBits = 16

// NewHLC packs a wall time in milliseconds and a logical counter.
func NewHLC(wallMillis int64, logical uint16) HLC {
	return HLC(uint64(wallMillis)<<hlcLogicalBits | uint64(logical))
}

// WallMillis returns the wall-time part in milliseconds since the Unix epoch.
func (h HLC) WallMillis() int64 { return int64(h >> hlcLogicalBits) }

// Logical returns the logical counter.
func (h HLC) Logical() uint16 { return uint16(h) }

// Time returns the wall-time part as a time.Time.
func (h HLC) Time() time.Time { return time.UnixMilli(h.WallMillis()) }

// Clock hands out HLC readings that never go backwards and that follow every
// reading it has observed from other nodes, except that an observed reading
// more than MaxSkew ahead of local wall time is clamped (and counted), so one
// node with a fast clock cannot drag the fleet into the future. A Clock is
// safe for concurrent use.
type Clock struct {
	now     func() time.Time
	maxSkew time.Duration

	mu   sync.Mutex // guards last
	last HLC

	clamped atomic.Uint64
}

// DefaultMaxSkew is how far ahead of local wall time a remote reading may be
// before it is clamped.
const DefaultMaxSkew = 2 * time.Second

// NewClock returns a Clock reading wall time from now (nil: time.Now) that
// clamps remote readings more than maxSkew ahead (0: DefaultMaxSkew).
func NewClock(now func() time.Time, maxSkew time.Duration) *Clock {
	if now == nil {
		now = time.Now
	}
	if maxSkew <= 0 {
		maxSkew = DefaultMaxSkew
	}
	return &Clock{now: now, maxSkew: maxSkew}
}

// Now returns a reading greater than every reading it returned or observed
// before.
func (c *Clock) Now() HLC {
	return c.at(c.now())
}

// at is Now with the wall time given, for callers that already read it.
func (c *Clock) at(wall time.Time) HLC {
	ms := wall.UnixMilli()
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case ms > c.last.WallMillis():
		c.last = NewHLC(ms, 0)
	case c.last.Logical() == 1<<hlcLogicalBits-1:
		c.last = NewHLC(c.last.WallMillis()+1, 0)
	default:
		c.last++
	}
	return c.last
}

// Observe moves the clock past a remote reading, clamped to local wall time
// plus MaxSkew. It reports whether the reading was clamped.
func (c *Clock) Observe(remote HLC) (clamped bool) {
	limit := NewHLC(c.now().Add(c.maxSkew).UnixMilli(), 0)
	if remote > limit {
		remote, clamped = limit, true
		c.clamped.Add(1)
	}
	c.mu.Lock()
	if remote > c.last {
		c.last = remote
	}
	c.mu.Unlock()
	return clamped
}

// Clamped returns how many observed readings were clamped.
func (c *Clock) Clamped() uint64 { return c.clamped.Load() }
