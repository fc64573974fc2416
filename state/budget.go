package state

import (
	"math"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/proxywhirl/retrycoord/policy"
)

// Retry budgets: per site, each node counts its own first attempts and
// retries in one-second buckets, a grow-only counter per bucket. Nodes send
// their counts to each other (BudgetCounts, with the evidence); a receiver
// keeps the maximum per origin and bucket and sums across origins, so each
// node judges a retry against what the whole fleet sent the site.

const (
	// budgetBuckets is the ring of one-second buckets kept per site and
	// origin: the longest budget window (60 s) and a few to spare.
	budgetBuckets = 64
	// MaxBudgetSites bounds the sites a Table keeps budget counts for; the
	// counts of further sites from other nodes are dropped and counted.
	MaxBudgetSites = 1 << 16
	// MaxBudgetOrigins bounds the other nodes whose counts a site keeps.
	MaxBudgetOrigins = 1 << 10
	// budgetIdle is how long a site's counts are kept after its last change.
	budgetIdle = 2 * budgetBuckets * time.Second
)

// BudgetBucket is one second of one node's counts for one site: Index is
// Unix seconds, Firsts the first attempts, Retries the retries and hedges,
// Floor those of the retries that the node's share of the floor granted.
type BudgetBucket struct {
	Index   int64
	Firsts  uint32
	Retries uint32
	Floor   uint32
}

// BudgetCount is one node's counts for one site, as sent to the fleet:
// the newest buckets, each a grow-only counter.
type BudgetCount struct {
	Site    string
	Buckets []BudgetBucket
}

// BudgetStatus is what a Table knows of a site's budget over a window.
type BudgetStatus struct {
	Firsts  uint64  // first attempts in the window, this node's or the fleet's
	Retries uint64  // retries in the window, likewise
	Allowed float64 // retries the window allows: Ratio·Firsts + the floor share
	Left    float64 // retries this node may make now (≥ 0): its part of what the ratio leaves, by its share of the first attempts, and what is left of its floor
	Members int     // members the floor is split by (1 when Local)
}

type budgetRing [budgetBuckets]BudgetBucket

// add counts into the bucket of second sec, resetting a stale slot.
func (r *budgetRing) slot(sec int64) *BudgetBucket {
	b := &r[uint64(sec)%budgetBuckets]
	if b.Index != sec {
		*b = BudgetBucket{Index: sec}
	}
	return b
}

// sum adds up the buckets in (now-window, now].
func (r *budgetRing) sum(now, window int64) (firsts, retries, floor uint64) {
	for i := range r {
		if b := &r[i]; b.Index > now-window && b.Index <= now {
			firsts += uint64(b.Firsts)
			retries += uint64(b.Retries)
			floor += uint64(b.Floor)
		}
	}
	return firsts, retries, floor
}

// siteBudget is one site's counts: this node's and the other nodes'.
type siteBudget struct {
	mu     sync.Mutex // guards every field below
	own    budgetRing
	remote map[string]*budgetRing
	dirty  bool  // own counts changed since the last BudgetCounts
	last   int64 // newest second counted or merged
}

// budgetBook holds the budgets of every site.
type budgetBook struct {
	mu      sync.RWMutex // guards sites
	sites   map[string]*siteBudget
	members atomic.Int64
	dropped atomic.Uint64 // remote counts dropped: too many sites or origins, bad input
}

func (bk *budgetBook) get(site string, create bool) *siteBudget {
	bk.mu.RLock()
	sb := bk.sites[site]
	bk.mu.RUnlock()
	if sb != nil || !create {
		return sb
	}
	bk.mu.Lock()
	defer bk.mu.Unlock()
	if sb = bk.sites[site]; sb != nil {
		return sb
	}
	if bk.sites == nil {
		bk.sites = make(map[string]*siteBudget)
	}
	if len(bk.sites) >= MaxBudgetSites {
		return nil
	}
	sb = &siteBudget{}
	bk.sites[site] = sb
	return sb
}

// SetMembers tells the table how many members the fleet has, this node and
// the members lost recently included: each node's share of a budget's
// floor is the floor divided by it. Values below 1 count as 1. The cluster
// calls it as its view changes; without a cluster it is 1.
func (t *Table) SetMembers(n int) { t.budgets.members.Store(int64(max(n, 1))) }

// Members returns what SetMembers last said (1 by default).
func (t *Table) Members() int { return int(max(t.budgets.members.Load(), 1)) }

// CountFirst counts a first attempt of a request for site at now, for its
// retry budget. It does not allocate once the site is known.
func (t *Table) CountFirst(site string, now time.Time) {
	if site == "" {
		return
	}
	sb := t.budgets.get(site, true)
	if sb == nil {
		return
	}
	sec := now.Unix()
	sb.mu.Lock()
	sb.own.slot(sec).Firsts++
	sb.last = max(sb.last, sec)
	t.markBudgetLocked(sb)
	sb.mu.Unlock()
}

// markBudgetLocked marks sb's own counts as changed; sb.mu is held.
func (t *Table) markBudgetLocked(sb *siteBudget) { sb.dirty = true }

// ChargeRetry asks site's budget b for one retry (or hedge) at now, and
// counts it when granted. Over b.Window, retries may be at most b.Ratio of
// the first attempts plus the floor: the fleet's retries granted by the
// ratio are judged against the fleet's first attempts, and what the ratio
// does not cover comes from this node's share of the floor (b.MinPerSecond
// · window, divided by Members). With b.Local this node's own counts and
// the whole floor are used. A budget that is Off or a request without a
// site always grants.
func (t *Table) ChargeRetry(site string, b policy.RetryBudget, now time.Time) bool {
	if site == "" || b.Off {
		return true
	}
	b = b.WithDefaults()
	sb := t.budgets.get(site, true)
	if sb == nil {
		return true
	}
	sec := now.Unix()
	sb.mu.Lock()
	defer sb.mu.Unlock()
	st, ratioLeft := t.budgetStatusLocked(sb, b, sec)
	if st.Left < 1 {
		return false
	}
	slot := sb.own.slot(sec)
	if ratioLeft < 1 {
		slot.Floor++
	}
	slot.Retries++
	sb.last = max(sb.last, sec)
	t.markBudgetLocked(sb)
	return true
}

// BudgetStatus returns site's budget b as this node sees it at now.
func (t *Table) BudgetStatus(site string, b policy.RetryBudget, now time.Time) BudgetStatus {
	b = b.WithDefaults()
	sb := t.budgets.get(site, false)
	if sb == nil {
		sb = &siteBudget{}
	}
	sb.mu.Lock()
	defer sb.mu.Unlock()
	st, _ := t.budgetStatusLocked(sb, b, now.Unix())
	return st
}

// budgetStatusLocked returns the status and what the ratio alone leaves.
func (t *Table) budgetStatusLocked(sb *siteBudget, b policy.RetryBudget, sec int64) (BudgetStatus, float64) {
	window := max(int64(b.Window/time.Second), 1)
	window = min(window, budgetBuckets-1)
	var st BudgetStatus
	var floor uint64 // retries the floor granted, fleet-wide
	st.Firsts, st.Retries, floor = sb.own.sum(sec, window)
	ownFirsts, ownFloor := st.Firsts, floor
	st.Members = 1
	if !b.Local {
		for _, r := range sb.remote {
			f, r, fl := r.sum(sec, window)
			st.Firsts += f
			st.Retries += r
			floor += fl
		}
		st.Members = t.Members()
	}
	share := b.MinPerSecond * float64(window) / float64(st.Members)
	ratio := b.Ratio * float64(st.Firsts)
	st.Allowed = ratio + share
	// Every node sees what the ratio leaves a few milliseconds late, so
	// each claims only its part of it, by its share of the first attempts:
	// claims made at once by all nodes add up to what is left, not to a
	// multiple of it.
	ratioLeft := max(0, ratio-float64(st.Retries-floor))
	if st.Firsts > 0 {
		ratioLeft *= float64(ownFirsts) / float64(st.Firsts)
	}
	floorLeft := max(0, math.Floor(share)-float64(ownFloor))
	st.Left = ratioLeft + floorLeft
	return st, ratioLeft
}

// BudgetSites returns the sites this table holds budget counts for, sorted.
func (t *Table) BudgetSites() []string {
	t.budgets.mu.RLock()
	out := make([]string, 0, len(t.budgets.sites))
	for s := range t.budgets.sites {
		out = append(out, s)
	}
	t.budgets.mu.RUnlock()
	slices.Sort(out)
	return out
}

// BudgetCounts appends to dst this node's own counts for every site whose
// counts changed since the previous call — the current and the previous
// second, so that one lost message loses nothing for long — and returns
// it. The cluster sends these with the evidence. It also forgets sites idle
// for two minutes.
func (t *Table) BudgetCounts(dst []BudgetCount) []BudgetCount {
	sec := t.now().Unix()
	t.budgets.mu.RLock()
	var idle []string
	for site, sb := range t.budgets.sites {
		sb.mu.Lock()
		if sb.dirty {
			sb.dirty = false
			var bs []BudgetBucket
			for _, s := range [2]int64{sec - 1, sec} {
				if b := sb.own[uint64(s)%budgetBuckets]; b.Index == s && (b.Firsts > 0 || b.Retries > 0) {
					bs = append(bs, b)
				}
			}
			if len(bs) > 0 {
				dst = append(dst, BudgetCount{Site: site, Buckets: bs})
			}
		} else if sec-sb.last > int64(budgetIdle/time.Second) {
			idle = append(idle, site)
		}
		sb.mu.Unlock()
	}
	t.budgets.mu.RUnlock()
	if len(idle) > 0 {
		t.budgets.mu.Lock()
		for _, s := range idle {
			delete(t.budgets.sites, s)
		}
		t.budgets.mu.Unlock()
	}
	slices.SortFunc(dst, func(a, b BudgetCount) int { return strings.Compare(a.Site, b.Site) })
	return dst
}

// MergeBudget folds another node's counts into the sites' budgets: the
// maximum per origin and bucket (the counters only grow), so duplicates
// and reordering are harmless. Counts naming this node, buckets from more
// than the ring's span away from now, and sites or origins beyond the
// bounds are dropped and counted (Stats.BudgetDropped).
func (t *Table) MergeBudget(origin string, counts []BudgetCount) {
	if origin == t.node || origin == "" {
		return
	}
	sec := t.now().Unix()
	for _, c := range counts {
		if c.Site == "" || !validKey(Key{Site: c.Site}) {
			t.budgets.dropped.Add(1)
			continue
		}
		sb := t.budgets.get(c.Site, true)
		if sb == nil {
			t.budgets.dropped.Add(1)
			continue
		}
		sb.mu.Lock()
		r := sb.remote[origin]
		if r == nil {
			if len(sb.remote) >= MaxBudgetOrigins {
				sb.mu.Unlock()
				t.budgets.dropped.Add(1)
				continue
			}
			if sb.remote == nil {
				sb.remote = make(map[string]*budgetRing)
			}
			r = new(budgetRing)
			sb.remote[origin] = r
		}
		for _, b := range c.Buckets {
			if b.Index <= sec-budgetBuckets+1 || b.Index > sec+2 {
				t.budgets.dropped.Add(1)
				continue
			}
			s := r.slot(b.Index)
			s.Firsts = max(s.Firsts, b.Firsts)
			s.Retries = max(s.Retries, b.Retries)
			s.Floor = max(s.Floor, min(b.Floor, b.Retries))
			sb.last = max(sb.last, b.Index)
		}
		sb.mu.Unlock()
	}
}
