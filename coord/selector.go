package coord

import (
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/proxywhirl/retrycoord/policy"
	"github.com/proxywhirl/retrycoord/state"
)

// selector chooses an upstream among the eligible ones. It is read-only
// with respect to breakers: it calls Table.EligibleScoped (the proxy and,
// for a site, the pair), never Admit.
type selector struct {
	tb *state.Table
	rr atomic.Uint64 // round-robin cursor

	// maxLat caches the highest mean latency over the pool (ns), refreshed
	// by a scan at most every maxLatEvery, so that p2c need not scan.
	maxLat   atomic.Int64
	maxLatAt atomic.Int64 // when maxLat was last refreshed, unix ns
	bufs     sync.Pool    // *[]*Upstream for best
}

const (
	maxLatEvery = 100 * time.Millisecond
	sampleTries = 8 // random draws before p2c and random fall back to a scan
	// p2cTie is the score difference below which p2c sees two upstreams as
	// equal, so that latency noise among equally good upstreams does not
	// send most traffic to whichever is momentarily fastest.
	p2cTie = 0.05
	// One p2c choice in p2cExplore ignores the scores and takes a random
	// candidate, so that an upstream whose window holds one bad outlier
	// (a slow first connection) still gets the samples that clear it.
	p2cExplore = 8
)

// usable reports whether u may be chosen: eligible, and not among tried
// unless anyTried.
func (s *selector) usable(u *Upstream, site string, tried []*Upstream, anyTried bool) bool {
	if !anyTried && slices.Contains(tried, u) {
		return false
	}
	return s.tb.EligibleScopedRef(&u.ref, u.key, site)
}

// pick returns the chosen upstream, or nil when none is eligible. It
// prefers upstreams not in tried, and falls back to tried ones only when no
// other is eligible.
func (s *selector) pick(list []*Upstream, sp *policy.SelectPolicy, region, site string, tried []*Upstream, now int64) *Upstream {
	if len(list) == 0 {
		return nil
	}
	u := s.pickOnce(list, sp, region, site, tried, false, now)
	if u == nil && len(tried) > 0 {
		u = s.pickOnce(list, sp, region, site, tried, true, now)
	}
	return u
}

func (s *selector) pickOnce(list []*Upstream, sp *policy.SelectPolicy, region, site string, tried []*Upstream, anyTried bool, now int64) *Upstream {
	switch sp.Strategy {
	case policy.StrategyBest:
		return s.best(list, sp, region, site, tried, anyTried)
	case policy.StrategyRoundRobin:
		start := int(s.rr.Add(1) % uint64(len(list)))
		return s.scan(list, start, site, tried, anyTried)
	case policy.StrategyRandom:
		for range sampleTries {
			if u := list[rand.IntN(len(list))]; s.usable(u, site, tried, anyTried) {
				return u
			}
		}
		return s.scan(list, rand.IntN(len(list)), site, tried, anyTried)
	default:
		return s.p2c(list, sp, region, site, tried, anyTried, now)
	}
}

// scan returns the first usable upstream from start on, wrapping around.
func (s *selector) scan(list []*Upstream, start int, site string, tried []*Upstream, anyTried bool) *Upstream {
	for i := range list {
		if u := list[(start+i)%len(list)]; s.usable(u, site, tried, anyTried) {
			return u
		}
	}
	return nil
}

// p2c draws two distinct usable upstreams at random and returns the one
// with the higher score. It samples (bounded) rather than scanning, and
// scans only when sampling finds fewer than two.
func (s *selector) p2c(list []*Upstream, sp *policy.SelectPolicy, region, site string, tried []*Upstream, anyTried bool, now int64) *Upstream {
	var a, b *Upstream
	n := len(list)
	if n == 1 {
		if s.usable(list[0], site, tried, anyTried) {
			return list[0]
		}
		return nil
	}
	// take keeps the first two usable candidates and reports when it has both.
	take := func(u *Upstream) bool {
		if u == a || !s.usable(u, site, tried, anyTried) {
			return false
		}
		if a == nil {
			a = u
			return false
		}
		b = u
		return true
	}
	for range sampleTries {
		if take(list[rand.IntN(n)]) {
			break
		}
	}
	if b == nil {
		start := rand.IntN(n)
		for i := range n {
			if take(list[(start+i)%n]) {
				break
			}
		}
	}
	if b == nil || rand.IntN(p2cExplore) == 0 {
		return a
	}
	maxLat := s.maxLatency(list, now)
	if s.score(b, sp, region, site, maxLat) > s.score(a, sp, region, site, maxLat)+p2cTie {
		return b
	}
	return a // a is as random as b: a tie splits evenly
}

// best returns the usable upstream with the highest score. It scans the
// whole pool (twice: once for the maximum latency among the eligible), so it
// costs O(pool); p2c does not.
func (s *selector) best(list []*Upstream, sp *policy.SelectPolicy, region, site string, tried []*Upstream, anyTried bool) *Upstream {
	bp, _ := s.bufs.Get().(*[]*Upstream)
	if bp == nil {
		bp = new([]*Upstream)
	}
	cand := (*bp)[:0]
	var maxLat time.Duration
	for _, u := range list {
		if !s.usable(u, site, tried, anyTried) {
			continue
		}
		cand = append(cand, u)
		if _, l, ok := u.stats.rates(); ok {
			maxLat = max(maxLat, l)
		}
	}
	var top *Upstream
	topScore := -1.0
	for _, u := range cand {
		if sc := s.score(u, sp, region, site, maxLat); sc > topScore {
			top, topScore = u, sc
		}
	}
	clear(cand)
	*bp = cand[:0]
	s.bufs.Put(bp)
	return top
}

// maxLatency returns the cached highest mean latency over the pool,
// refreshing it by a scan when it is older than maxLatEvery.
func (s *selector) maxLatency(list []*Upstream, now int64) time.Duration {
	at := s.maxLatAt.Load()
	if now-at >= int64(maxLatEvery) && s.maxLatAt.CompareAndSwap(at, now) {
		var m time.Duration
		for _, u := range list {
			if _, l, ok := u.stats.rates(); ok {
				m = max(m, l)
			}
		}
		s.maxLat.Store(int64(m))
	}
	return time.Duration(s.maxLat.Load())
}

// noteLatency raises the cached maximum when an upstream's mean passes it,
// so that p2c never scores a latency above the maximum between refreshes.
func (s *selector) noteLatency(u *Upstream) {
	if _, l, ok := u.stats.rates(); ok {
		for {
			cur := s.maxLat.Load()
			if int64(l) <= cur || s.maxLat.CompareAndSwap(cur, int64(l)) {
				return
			}
		}
	}
}

// score is the upstream's score for a request for site: the success
// ratio is the proxy's for that site (its pair's outcomes) when there are
// some, the proxy's own otherwise.
func (s *selector) score(u *Upstream, sp *policy.SelectPolicy, region, site string, maxLat time.Duration) float64 {
	succ, lat, ok := u.stats.rates()
	if !ok {
		succ, lat = 1, 0
	}
	if ps, ok := s.tb.PairSuccess(u.key, site); ok {
		succ = ps
	}
	return scoreOf(u, sp, region, succ, lat, maxLat)
}

// scoreOf is SuccessWeight·success_rate + LatencyWeight·(1 − latency/maxLat),
// times RegionBonus when the regions match, capped at 1. An upstream with
// no history scores as success 1, latency 0, so that new upstreams get
// tried.
func scoreOf(u *Upstream, sp *policy.SelectPolicy, region string, succ float64, lat, maxLat time.Duration) float64 {
	latTerm := 1.0
	if maxLat > 0 {
		latTerm = 1 - min(float64(lat)/float64(maxLat), 1)
	}
	sc := sp.SuccessWeight*succ + sp.LatencyWeight*latTerm
	if region != "" && u.region != "" && strings.EqualFold(region, u.region) {
		sc *= sp.RegionBonus
	}
	return min(sc, 1)
}
