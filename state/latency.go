package state

import (
	"math"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/DataDog/sketches-go/ddsketch"
	"github.com/DataDog/sketches-go/ddsketch/mapping"
	"github.com/DataDog/sketches-go/ddsketch/store"
)

// Latency per site, for hedging: each node keeps a DDSketch (1% relative
// accuracy) of its own answers' latencies per site over the last ten to
// twenty seconds, sends it to the fleet at most once a second
// (LatencySketches), and keeps the newest sketch of every other node; a
// site's quantile is read from all of them merged.

const (
	// LatencyAccuracy is the relative accuracy of the latency sketches.
	LatencyAccuracy = 0.01
	// MaxSketchBins bounds the bins of a sketch, kept and sent: at 1%
	// accuracy 1,024 bins span 1 ms to beyond an hour.
	MaxSketchBins = 1024
	// latencyPeriod is how long a node's own sketch collects before it
	// becomes the previous one (a quantile reads both).
	latencyPeriod = 10 * time.Second
	// latencyStale is how long another node's sketch counts after it came.
	latencyStale = 30 * time.Second
	// quantileCache is how long a computed quantile is reused.
	quantileCache = 250 * time.Millisecond
)

// SketchBin is one bin of a latency sketch: the DDSketch index of the
// bin (latency in milliseconds, logarithmic mapping at LatencyAccuracy)
// and its count.
type SketchBin struct {
	Index int32
	Count uint32
}

// LatencySketch is one node's recent latencies for one site, as sent to
// the fleet: the bins of its sketch, and the count of zero latencies.
type LatencySketch struct {
	Site string
	Zero uint32
	Bins []SketchBin
}

var latencyMapping, _ = mapping.NewLogarithmicMapping(LatencyAccuracy)

func newSketch() *ddsketch.DDSketch {
	return ddsketch.NewDDSketch(latencyMapping, store.NewCollapsingLowestDenseStore(MaxSketchBins),
		store.NewCollapsingLowestDenseStore(1))
}

type remoteSketch struct {
	sk   *ddsketch.DDSketch
	seen time.Time
}

// siteLatency is one site's sketches.
type siteLatency struct {
	mu        sync.Mutex // guards every field below
	cur, prev *ddsketch.DDSketch
	curStart  time.Time
	remote    map[string]remoteSketch
	dirty     bool
	q         float64 // the quantile cached, its value and when it was computed
	qv        time.Duration
	qAt       time.Time
}

type latencyBook struct {
	mu    sync.RWMutex // guards sites
	sites map[string]*siteLatency
}

func (lb *latencyBook) get(site string, create bool) *siteLatency {
	lb.mu.RLock()
	sl := lb.sites[site]
	lb.mu.RUnlock()
	if sl != nil || !create {
		return sl
	}
	lb.mu.Lock()
	defer lb.mu.Unlock()
	if sl = lb.sites[site]; sl != nil {
		return sl
	}
	if len(lb.sites) >= MaxBudgetSites {
		return nil
	}
	if lb.sites == nil {
		lb.sites = make(map[string]*siteLatency)
	}
	sl = &siteLatency{cur: newSketch(), prev: newSketch(), remote: map[string]remoteSketch{}}
	lb.sites[site] = sl
	return sl
}

// AddLatency records an answer's latency for site at now. The coordinator
// calls it for requests whose policy hedges.
func (t *Table) AddLatency(site string, d time.Duration, now time.Time) {
	if site == "" || d < 0 {
		return
	}
	sl := t.latency.get(site, true)
	if sl == nil {
		return
	}
	sl.mu.Lock()
	sl.rotateLocked(now)
	_ = sl.cur.Add(float64(d) / float64(time.Millisecond))
	sl.dirty = true
	sl.mu.Unlock()
}

func (sl *siteLatency) rotateLocked(now time.Time) {
	if sl.curStart.IsZero() {
		sl.curStart = now
	}
	if now.Sub(sl.curStart) >= latencyPeriod {
		sl.prev, sl.cur = sl.cur, sl.prev
		sl.cur.Clear()
		if now.Sub(sl.curStart) >= 2*latencyPeriod {
			sl.prev.Clear()
		}
		sl.curStart = now
	}
}

// LatencyQuantile returns site's latency at quantile q (0–1) over this
// node's recent answers and the newest sketch of every other node, and
// false when there are fewer than minCount answers. The value is cached
// for a quarter of a second.
func (t *Table) LatencyQuantile(site string, q float64, minCount int, now time.Time) (time.Duration, bool) {
	sl := t.latency.get(site, false)
	if sl == nil {
		return 0, false
	}
	sl.mu.Lock()
	defer sl.mu.Unlock()
	if sl.q == q && now.Sub(sl.qAt) < quantileCache && !sl.qAt.IsZero() {
		return sl.qv, sl.qv > 0
	}
	sl.rotateLocked(now)
	m := sl.cur.Copy()
	_ = m.MergeWith(sl.prev)
	for o, r := range sl.remote {
		if now.Sub(r.seen) > latencyStale {
			delete(sl.remote, o)
			continue
		}
		_ = m.MergeWith(r.sk)
	}
	sl.q, sl.qAt, sl.qv = q, now, 0
	if m.GetCount() < float64(max(minCount, 1)) {
		return 0, false
	}
	v, err := m.GetValueAtQuantile(q)
	if err != nil || math.IsNaN(v) {
		return 0, false
	}
	sl.qv = max(time.Duration(v*float64(time.Millisecond)), time.Microsecond)
	return sl.qv, true
}

// LatencySketches appends to dst this node's sketch (the current and the
// previous period merged) of every site whose latencies changed since the
// previous call. The cluster calls it at most once a second.
func (t *Table) LatencySketches(dst []LatencySketch) []LatencySketch {
	now := t.now()
	t.latency.mu.RLock()
	for site, sl := range t.latency.sites {
		sl.mu.Lock()
		if sl.dirty {
			sl.dirty = false
			sl.rotateLocked(now)
			m := sl.cur.Copy()
			_ = m.MergeWith(sl.prev)
			ls := LatencySketch{Site: site, Zero: uint32(min(m.GetZeroCount(), math.MaxUint32))}
			m.GetPositiveValueStore().ForEach(func(i int, c float64) bool {
				if c >= 1 && i >= math.MinInt32 && i <= math.MaxInt32 {
					ls.Bins = append(ls.Bins, SketchBin{Index: int32(i), Count: uint32(min(c, math.MaxUint32))})
				}
				return false
			})
			dst = append(dst, ls)
		}
		sl.mu.Unlock()
	}
	t.latency.mu.RUnlock()
	slices.SortFunc(dst, func(a, b LatencySketch) int { return strings.Compare(a.Site, b.Site) })
	return dst
}

// MergeLatency keeps another node's newest sketch for each site, replacing
// its previous one. Sketches naming this node, for invalid sites, beyond
// the site bound or with more than MaxSketchBins bins are dropped and
// counted (Stats.BudgetDropped).
func (t *Table) MergeLatency(origin string, sketches []LatencySketch) {
	if origin == t.node || origin == "" {
		return
	}
	now := t.now()
	for _, ls := range sketches {
		if ls.Site == "" || !validKey(Key{Site: ls.Site}) || len(ls.Bins) > MaxSketchBins {
			t.budgets.dropped.Add(1)
			continue
		}
		sl := t.latency.get(ls.Site, true)
		if sl == nil {
			t.budgets.dropped.Add(1)
			continue
		}
		sk := newSketch()
		for _, b := range ls.Bins {
			sk.GetPositiveValueStore().AddWithCount(int(b.Index), float64(b.Count))
		}
		if ls.Zero > 0 {
			_ = sk.AddWithCount(0, float64(ls.Zero))
		}
		sl.mu.Lock()
		if _, ok := sl.remote[origin]; ok || len(sl.remote) < MaxBudgetOrigins {
			sl.remote[origin] = remoteSketch{sk: sk, seen: now}
			sl.qAt = time.Time{}
		} else {
			t.budgets.dropped.Add(1)
		}
		sl.mu.Unlock()
	}
}
