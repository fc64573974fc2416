package redisledger

import (
	"context"
	"sync"
)

// health tracks whether Redis is reachable. The loops that need Redis wait
// on up; whoever sees a failure calls markDown, which wakes the reconciler;
// the reconciler alone calls markUp, after it has reconciled.
type health struct {
	mu     sync.Mutex    // guards up, upCh and logged
	up     bool          // Redis answered the last attempt
	upCh   chan struct{} // closed while up; a fresh open channel while down
	logged bool          // an outage was reported (Warn) and its end is not yet
	kick   chan struct{} // cap 1: wakes the reconciler
}

func (h *health) init() {
	h.upCh = make(chan struct{})
	h.kick = make(chan struct{}, 1)
}

func (h *health) isUp() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.up
}

// wait blocks until Redis is up or ctx is done, and reports which.
func (h *health) wait(ctx context.Context) bool {
	h.mu.Lock()
	ch := h.upCh
	h.mu.Unlock()
	select {
	case <-ch:
		return true
	case <-ctx.Done():
		return false
	}
}

// markDown records a failure. It reports whether this starts an outage (the
// first failure after Redis was up), which the caller logs once.
func (h *health) markDown() (starts bool) {
	h.mu.Lock()
	if h.up {
		h.up = false
		h.upCh = make(chan struct{})
		starts = true
		h.logged = true
	}
	h.mu.Unlock()
	select {
	case h.kick <- struct{}{}:
	default:
	}
	return starts
}

// note records an outage that was reported another way (a failed Snapshot
// returned its error), so that its end is logged.
func (h *health) note() {
	h.mu.Lock()
	h.logged = true
	h.mu.Unlock()
}

// markUp records that Redis is reachable and reconciled. It reports whether
// this ends a logged outage.
func (h *health) markUp() (ends bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.up {
		h.up = true
		close(h.upCh)
	}
	ends, h.logged = h.logged, false
	return ends
}
