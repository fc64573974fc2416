package state

import (
	"slices"
	"sync/atomic"

	"github.com/proxywhirl/retrycoord/internal/logkey"
)

// Transition is one change to a table: the record as it now stands, the
// phase it left (zero for facts, and for breakers seen for the first time is
// PhaseClosed), and where the change came from.
type Transition struct {
	Record Record
	From   Phase
	Source Source
	// Seq is a fact's merge number (FactsSince): every fact the table
	// stores takes the next one, and each is published once. 0 for a
	// breaker.
	Seq uint64
}

// Subscription receives every change to a Table on C, in the order each
// breaker made them. It never slows the table down: when C is full a
// transition is dropped, counted, and signalled on Missed. A Subscription
// is safe for concurrent use.
type Subscription struct {
	// C delivers the transitions. It is closed by Close.
	C <-chan Transition
	// Missed is signalled after a transition was dropped and counted in
	// Dropped; it holds one signal however many were dropped since it was
	// last read, and is never closed. A reader that must not miss a fact
	// selects on it beside C and catches up from the table (FactsSince):
	// a drop is noticed even when nothing follows it on C.
	Missed <-chan struct{}

	c       chan Transition
	missed  chan struct{}
	t       *Table
	dropped atomic.Uint64
	closed  atomic.Bool
}

// DefaultSubscriptionBuffer is the buffer of a subscription asked for with
// a size of 0 or less.
const DefaultSubscriptionBuffer = 1024

// Subscribe returns a subscription buffering up to buffer transitions
// (0 or less: DefaultSubscriptionBuffer).
func (t *Table) Subscribe(buffer int) *Subscription {
	if buffer <= 0 {
		buffer = DefaultSubscriptionBuffer
	}
	s := &Subscription{c: make(chan Transition, buffer), missed: make(chan struct{}, 1), t: t}
	s.C, s.Missed = s.c, s.missed
	t.subsMu.Lock()
	var next []*Subscription
	if cur := t.subs.Load(); cur != nil {
		next = slices.Clone(*cur)
	}
	next = append(next, s)
	t.subs.Store(&next)
	t.subsMu.Unlock()
	return s
}

// Dropped returns how many transitions this subscription missed because its
// buffer was full.
func (s *Subscription) Dropped() uint64 { return s.dropped.Load() }

// Close stops the subscription and closes C. It is idempotent.
func (s *Subscription) Close() {
	t := s.t
	t.subsMu.Lock()
	defer t.subsMu.Unlock()
	if s.closed.Swap(true) {
		return
	}
	if cur := t.subs.Load(); cur != nil {
		next := slices.DeleteFunc(slices.Clone(*cur), func(x *Subscription) bool { return x == s })
		t.subs.Store(&next)
	}
	close(s.c)
}

// publish hands a transition to every subscription and logs it. It is
// called with no lock held; a nil transition is ignored.
func (t *Table) publish(tr *Transition) {
	if tr == nil {
		return
	}
	if subs := t.subs.Load(); subs != nil {
		t.subsMu.Lock() // keeps Close from closing a channel mid-send
		for _, s := range *subs {
			if s.closed.Load() {
				continue
			}
			select {
			case s.c <- *tr:
			default:
				s.dropped.Add(1)
				t.stats.dropped.Add(1)
				select {
				case s.missed <- struct{}{}:
				default: // one signal is waiting already
				}
				t.logger.Debug("transition dropped: subscription full", logkey.Upstream, tr.Record.Upstream)
			}
		}
		t.subsMu.Unlock()
	}
	r := &tr.Record
	if r.IsBreaker() {
		t.logger.Info("breaker transition", logkey.Upstream, r.Upstream, logkey.From, tr.From, logkey.To, r.Phase,
			logkey.Gen, r.Gen, logkey.Origin, r.Origin, logkey.Source, tr.Source, logkey.Reason, r.Reason)
	} else {
		log := t.logger.Info
		if r.kind() == KindPool {
			// A pool loaded at once is as many facts: 100,000 lines on
			// every node. coord logs each change of the pool once.
			log = t.logger.Debug
		}
		log("fact changed", logkey.Kind, r.kind(), logkey.Key, r.Upstream, logkey.Origin, r.Origin,
			"deleted", r.Deleted, logkey.Source, tr.Source)
	}
}
