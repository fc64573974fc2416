package coord

import (
	"sync"
	"sync/atomic"
	"time"
)

// stats keeps an upstream's last Window outcomes in a ring, with a running
// success count and latency sum so that reading them is O(1) and lock-free:
// writers hold mu, readers load the atomics (a reader may see a count and a
// sum from two neighbouring writes, which is harmless for scoring).
type stats struct {
	mu   sync.Mutex // guards ring and head
	ring []outcome
	head int // next slot to write

	n      atomic.Int64 // outcomes held (≤ len(ring))
	ok     atomic.Int64 // successes held
	latSum atomic.Int64 // latency sum held, ns
}

type outcome struct {
	ok  bool
	lat int64 // ns
}

// init sizes the ring for window outcomes, keeping the newest ones.
func (s *stats) init(window int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.resizeLocked(window)
}

func (s *stats) resizeLocked(window int) {
	window = max(window, 1)
	if len(s.ring) == window {
		return
	}
	old := s.ordered()
	if len(old) > window {
		old = old[len(old)-window:]
	}
	s.ring = make([]outcome, window)
	copy(s.ring, old)
	s.head = len(old) % window
	var ok, lat int64
	for _, o := range old {
		if o.ok {
			ok++
		}
		lat += o.lat
	}
	s.n.Store(int64(len(old)))
	s.ok.Store(ok)
	s.latSum.Store(lat)
}

// ordered returns the held outcomes, oldest first. The caller holds mu.
func (s *stats) ordered() []outcome {
	n := int(s.n.Load())
	out := make([]outcome, 0, n)
	for i := range n {
		out = append(out, s.ring[(s.head-n+i+len(s.ring))%len(s.ring)])
	}
	return out
}

// copyFrom takes over another upstream's outcomes (the same key re-added
// with new metadata).
func (s *stats) copyFrom(o *stats) {
	o.mu.Lock()
	held := o.ordered()
	o.mu.Unlock()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ring = make([]outcome, max(len(held), 1))
	copy(s.ring, held)
	s.head = len(held) % len(s.ring)
	var ok, lat int64
	for _, x := range held {
		ok += b2i(x.ok)
		lat += x.lat
	}
	s.n.Store(int64(len(held)))
	s.ok.Store(ok)
	s.latSum.Store(lat)
}

func b2i(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

// record adds one outcome, evicting the oldest once window are held.
func (s *stats) record(ok bool, lat time.Duration, window int) {
	s.mu.Lock()
	if len(s.ring) != window {
		s.resizeLocked(window)
	}
	o := outcome{ok: ok, lat: int64(lat)}
	if n := s.n.Load(); int(n) == len(s.ring) {
		old := s.ring[s.head]
		s.ok.Add(b2i(o.ok) - b2i(old.ok))
		s.latSum.Add(o.lat - old.lat)
	} else {
		s.n.Add(1)
		s.ok.Add(b2i(o.ok))
		s.latSum.Add(o.lat)
	}
	s.ring[s.head] = o
	if s.head++; s.head == len(s.ring) {
		s.head = 0
	}
	s.mu.Unlock()
}

// rates returns the success rate and mean latency over the held outcomes,
// and false when there are none.
func (s *stats) rates() (success float64, latency time.Duration, ok bool) {
	n := s.n.Load()
	if n <= 0 {
		return 0, 0, false
	}
	return float64(s.ok.Load()) / float64(n), time.Duration(s.latSum.Load() / n), true
}

// UpstreamStats are an upstream's figures over its last Window outcomes.
type UpstreamStats struct {
	Outcomes    int           // outcomes held (at most the selection Window)
	SuccessRate float64       // successes / Outcomes (0 when none)
	MeanLatency time.Duration // mean latency of the held outcomes
}

// Stats returns the upstream's figures over its last Window outcomes.
func (u *Upstream) Stats() UpstreamStats {
	r, l, ok := u.stats.rates()
	if !ok {
		return UpstreamStats{}
	}
	return UpstreamStats{Outcomes: int(u.stats.n.Load()), SuccessRate: r, MeanLatency: l}
}
