package state

import (
	"cmp"
	"maps"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
)

// index maps keys of one level to their breakers. Lookups read an immutable
// map through an atomic pointer, without locks, hashing the key once;
// additions go to a dirty copy under mu, which replaces the read map once
// lookups have missed it as often as it has entries (the scheme of
// sync.Map, without boxing the key), so additions cost amortised O(1) and
// the steady state holds one map. A Table has three: proxies and sites
// keyed by a string (one string to hash on the hot path), pairs by Key.
type index[K comparable] struct {
	read atomic.Pointer[map[K]*breaker] // never written after it is stored

	mu     sync.Mutex     // guards dirty and misses
	dirty  map[K]*breaker // nil, or read plus the additions since
	misses int            // lookups that missed read since dirty was made
}

// indexes are a Table's three indexes.
type indexes struct {
	proxies index[string]
	sites   index[string]
	pairs   index[Key]
}

// lookup finds a breaker, creating it when create is set, and marks it used
// for the eviction sweep. A breaker found here may be evicted before its
// caller locks it: slow paths use locked, which checks.
func (t *Table) lookup(k Key, create bool) *breaker {
	switch {
	case k.Site == "":
		return lookupIn(t, &t.index.proxies, k.Proxy, k, create)
	case k.Proxy == "":
		return lookupIn(t, &t.index.sites, k.Site, k, create)
	}
	return lookupIn(t, &t.index.pairs, k, k, create)
}

func lookupIn[K comparable](t *Table, s *index[K], k K, full Key, create bool) *breaker {
	if m := s.read.Load(); m != nil {
		if b := (*m)[k]; b != nil {
			if !b.used.Load() {
				b.used.Store(true)
			}
			return b
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	b := s.dirty[k]
	if s.dirty == nil {
		if m := s.read.Load(); m != nil {
			b = (*m)[k] // promoted since the lock-free read
		}
	}
	if b == nil && create {
		if s.dirty == nil {
			s.dirty = maps.Clone(s.readMap())
			if s.dirty == nil {
				s.dirty = make(map[K]*breaker)
			}
		}
		b = newBreaker(Key{Proxy: strings.Clone(full.Proxy), Site: strings.Clone(full.Site)})
		s.dirty[keyOf[K](b.key)] = b
		t.stats.breakers.Add(1)
		if full.Level() == LevelPair {
			t.stats.pairs.Add(1)
		}
	}
	if s.dirty != nil {
		if s.misses++; s.misses >= len(s.dirty) {
			s.promoteLocked()
		}
	}
	if b != nil {
		b.used.Store(true)
	}
	return b
}

// keyOf returns the map key of an index of K for a breaker's key: the proxy
// or the site (strings; they share the breaker's memory), or the Key.
func keyOf[K comparable](k Key) K {
	var z K
	switch any(z).(type) {
	case string:
		if k.Proxy == "" {
			return any(k.Site).(K)
		}
		return any(k.Proxy).(K)
	}
	return any(k).(K)
}

func (s *index[K]) readMap() map[K]*breaker {
	if m := s.read.Load(); m != nil {
		return *m
	}
	return nil
}

// promoteLocked makes the dirty map the read map.
func (s *index[K]) promoteLocked() {
	m := s.dirty
	s.read.Store(&m)
	s.dirty, s.misses = nil, 0
}

// locked returns a breaker with its lock held, creating it, and never one
// that an eviction sweep has removed.
func (t *Table) locked(k Key) *breaker {
	for {
		b := t.lookup(k, true)
		b.mu.Lock()
		if !b.detached {
			return b
		}
		b.mu.Unlock()
	}
}

// all returns every breaker, for sweeps and snapshots.
func (t *Table) all() []*breaker {
	out := allIn(&t.index.proxies, nil)
	out = allIn(&t.index.sites, out)
	return allIn(&t.index.pairs, out)
}

func allIn[K comparable](s *index[K], out []*breaker) []*breaker {
	s.mu.Lock()
	m := s.dirty
	if m == nil {
		m = s.readMap()
	}
	out = slices.Grow(out, len(m))
	for _, b := range m {
		out = append(out, b)
	}
	s.mu.Unlock()
	return out
}

// EvictIdle removes pristine breakers that no call or read has touched
// since the previous EvictIdle, and frees windows with nothing left in them.
// Call it about once per Window (the Coordinator does) so that a pool of
// 100,000 upstreams does not hold a breaker for each one forever, nor a
// million idle pairs. It returns how many breakers it removed.
func (t *Table) EvictIdle() int {
	now := t.now().UnixNano()
	pol := t.policy.Load()
	var cooled []string // sites of pairs that went cold: told after the sweeps
	n, _ := evictIdleIn(&t.index.proxies, now, pol, &cooled)
	ns, _ := evictIdleIn(&t.index.sites, now, pol, &cooled)
	np, pairs := evictIdleIn(&t.index.pairs, now, pol, &cooled)
	evicted := n + ns + np
	t.stats.breakers.Add(-int64(evicted))
	t.stats.pairs.Add(-int64(pairs))
	t.stats.evicted.Add(uint64(evicted))
	for _, site := range cooled {
		t.adjustHot(site, -1)
	}
	return evicted
}

// evictIdleIn is EvictIdle's sweep of one index; pairs counts the pairs
// among the evicted.
func evictIdleIn[K comparable](s *index[K], now int64, pol *compiledPolicy, cooled *[]string) (evicted, pairs int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.dirty != nil {
		s.promoteLocked()
	}
	var keep map[K]*breaker
	for key, b := range s.readMap() {
		b.mu.Lock()
		if b.win != nil && now/pol.bucketWidth-b.win.newest() >= windowSlots {
			b.dropWindowLocked()
			if b.key.Level() == LevelPair && b.hot && !b.hotLocked() {
				b.hot = false
				*cooled = append(*cooled, b.key.Site)
			}
		}
		if b.used.Load() {
			b.used.Store(false)
		} else if b.pristineLocked() {
			if keep == nil {
				keep = maps.Clone(s.readMap())
			}
			b.detached = true
			b.gone.Store(true)
			delete(keep, key)
			evicted++
			if b.key.Level() == LevelPair {
				pairs++
			}
		}
		b.mu.Unlock()
	}
	if keep != nil {
		s.read.Store(&keep)
	}
	return evicted, pairs
}

// evictPairs keeps the number of pairs within MaxPairs once adding more
// are created: when over, it removes the least recently failed pairs that
// never tripped (at least one, and a sixteenth of the excess bound more, so
// that a flood of new pairs costs amortised O(1) sweeps), and counts them.
func (t *Table) evictPairs(adding int) {
	over := t.stats.pairs.Load() + int64(adding) - int64(t.maxPairs)
	if over <= 0 {
		return
	}
	s := &t.index.pairs
	s.mu.Lock()
	cooled := t.evictPairsLocked(over)
	s.mu.Unlock()
	for _, site := range cooled {
		t.adjustHot(site, -1)
	}
}

// evictPairsLocked is evictPairs under the pairs' index lock; it returns
// the sites of the hot pairs it removed, to be told once the lock is
// released.
func (t *Table) evictPairsLocked(over int64) (cooled []string) {
	s := &t.index.pairs
	if s.dirty != nil {
		s.promoteLocked()
	}
	type cand struct {
		k    Key
		last int64
	}
	var cands []cand
	for k, b := range s.readMap() {
		b.mu.Lock()
		if b.gen == 0 && b.phase() == PhaseClosed {
			cands = append(cands, cand{k, b.lastFail})
		}
		b.mu.Unlock()
	}
	n := int(min(int64(len(cands)), over+int64(t.maxPairs/16)))
	if n == 0 {
		return nil
	}
	slices.SortFunc(cands, func(a, b cand) int { return cmp.Compare(a.last, b.last) })
	keep := maps.Clone(s.readMap())
	removed := 0
	for _, c := range cands[:n] {
		b := keep[c.k]
		b.mu.Lock()
		if b.gen == 0 && b.phase() == PhaseClosed {
			b.detached = true
			b.gone.Store(true)
			delete(keep, c.k)
			removed++
			if b.hot {
				b.hot = false
				cooled = append(cooled, c.k.Site)
			}
		}
		b.mu.Unlock()
	}
	s.read.Store(&keep)
	t.stats.breakers.Add(-int64(removed))
	t.stats.pairs.Add(-int64(removed))
	t.stats.pairsEvicted.Add(uint64(removed))
	return cooled
}
