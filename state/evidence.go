package state

import (
	"slices"
	"strings"
)

// Evidence is one node's own failure counts for one upstream within the
// current window: a grow-only counter per bucket. Nodes send theirs to each
// other; a receiver keeps the maximum per origin and bucket and sums across
// origins, so a dead proxy trips after about FleetThreshold failures across
// the whole fleet rather than FailureThreshold on every node.
//
// Evidence carries calls as well as failures, so that the fleet judges the
// same failure ratio (MinFailureRate, SiteFailureRate, relative blame) that
// a node judges locally; calls are counted from the breaker's first failure
// in the window. Evidence is sent when failures changed: the calls in it
// may lag, which can only overstate the ratio.
type Evidence struct {
	Upstream string           // the proxy (empty for a site's breaker)
	Site     string           // the site (empty for a proxy's breaker)
	Gen      uint64           // the breaker generation the counts belong to
	Buckets  []EvidenceBucket // oldest first; only buckets with calls
}

// Key returns the key of the breaker the evidence is about.
func (ev Evidence) Key() Key { return Key{Proxy: ev.Upstream, Site: ev.Site} }

// EvidenceBucket is the cumulative failure and call counts of one bucket.
// Index is wall time divided by the bucket width (Window/60), so that every
// node numbers buckets alike.
type EvidenceBucket struct {
	Index    int64
	Failures uint32
	Calls    uint32 // failures included; 0 from a node that does not count calls
}

// Evidence returns this node's own failure counts for an upstream, and
// false when it has none in the window.
func (t *Table) Evidence(upstream string) (Evidence, bool) {
	return t.EvidenceAt(ProxyKey(upstream))
}

// EvidenceAt is Evidence for a breaker of any level.
func (t *Table) EvidenceAt(k Key) (Evidence, bool) {
	b := t.lookup(k, false)
	if b == nil {
		return Evidence{}, false
	}
	now := t.now().UnixNano()
	pol := t.policy.Load()
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.evidenceLocked(now, pol)
}

func (b *breaker) evidenceLocked(now int64, pol *compiledPolicy) (Evidence, bool) {
	if b.win == nil || b.phase() != PhaseClosed {
		return Evidence{}, false
	}
	buckets := b.windowLocked(now, pol).evidence(nil)
	if len(buckets) == 0 {
		return Evidence{}, false
	}
	return Evidence{Upstream: b.key.Proxy, Site: b.key.Site, Gen: b.gen, Buckets: buckets}, true
}

func (t *Table) markDirty(b *breaker) {
	t.dirtyMu.Lock()
	t.dirty = append(t.dirty, b)
	t.dirtyMu.Unlock()
}

// PendingEvidence appends to dst this node's own counts for every upstream
// whose failures changed since the previous call, once each, in key order
// (proxy, then site), and returns it. A node sends these every
// EvidenceInterval; it is empty when nothing failed.
func (t *Table) PendingEvidence(dst []Evidence) []Evidence {
	t.dirtyMu.Lock()
	dirty := t.dirty
	t.dirty = nil
	t.dirtyMu.Unlock()
	if len(dirty) == 0 {
		return dst
	}
	now := t.now().UnixNano()
	pol := t.policy.Load()
	slices.SortFunc(dirty, func(a, b *breaker) int {
		if c := strings.Compare(a.key.Proxy, b.key.Proxy); c != 0 {
			return c
		}
		return strings.Compare(a.key.Site, b.key.Site)
	})
	dirty = slices.Compact(dirty)
	for _, b := range dirty {
		b.mu.Lock()
		if b.evDirty {
			b.evDirty = false
			if ev, ok := b.evidenceLocked(now, pol); ok {
				dst = append(dst, ev)
			}
		}
		b.mu.Unlock()
	}
	return dst
}

// MergeEvidence folds another node's counts for an upstream into its
// window and trips the breaker when the fleet's failures reach
// FleetThreshold from at least MinReporters nodes. Evidence of another
// generation, for a breaker that is not closed, or naming this node, is
// ignored. Each bucket keeps the index its origin gave it, also ahead of
// this node's clock: buckets more than MaxSkew ahead are dropped and
// counted (Stats.EvidenceAhead). It reports whether the breaker tripped.
func (t *Table) MergeEvidence(origin string, ev Evidence) (tripped bool) {
	if origin == t.node {
		t.stats.evidenceSelf.Add(1)
		return false
	}
	k := ev.Key()
	if k.Level() == 0 || len(ev.Buckets) == 0 || !validKey(k) {
		return false
	}
	if k.Level() == LevelPair && t.siteOpen(k.Site) {
		return false // the open site explains it
	}
	now := t.now().UnixNano()
	e := t.env()
	if k.Level() == LevelPair {
		t.siteEnv(k.Site, &e, now)
	}
	b := t.locked(k)
	var tr *Transition
	var failed bool
	if b.phase() == PhaseClosed && ev.Gen == b.gen {
		w := b.windowLocked(now, e.pol)
		if n := w.mergeEvidence(origin, ev.Buckets, t.clock.maxSkew.Nanoseconds()/e.pol.bucketWidth+1); n > 0 {
			t.stats.evidenceAhead.Add(uint64(n))
		}
		f, _, _ := w.fleet()
		failed = f > 0
		tr = b.judgeLocked(now, &e)
	}
	t.unlock(b)
	t.publish(tr)
	t.rollUp(k, failed, tr, now)
	return tr != nil
}

// Reporters returns how many nodes' failures count against the breaker of
// k: while it is closed, each origin whose evidence in the current window
// counts a failure, and this node when its own counts in the window do;
// while it is open or half-open, how many that was when it last opened
// here from closed (the window is dropped on opening), and 0 after an
// operator's trip on this node. It is 0 for a breaker the table does not
// hold. It takes the breaker's lock once.
func (t *Table) Reporters(k Key) int {
	b := t.lookup(k, false)
	if b == nil {
		return 0
	}
	now := t.now().UnixNano()
	pol := t.policy.Load()
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.phase() != PhaseClosed {
		return b.reporters
	}
	return b.reportersLocked(now, pol)
}

// OwnFailing reports how many upstreams this table holds breakers for
// (active) and how many of them this node itself sees failing (failing): a
// breaker its own failures opened and that is not closed, or at least
// minFailures of its own failures in the current window. An operator's trip
// is not a failure seen: it does not count. It reads without taking anything;
// the cluster's poison guard calls it to tell a dead proxy (one upstream
// failing) from a broken local network (most of the pool failing at once).
// It costs one lock per breaker: call it on trips, not per request.
func (t *Table) OwnFailing(minFailures int) (failing, active int) {
	now := t.now().UnixNano()
	pol := t.policy.Load()
	for _, b := range t.all() {
		b.mu.Lock()
		if b.detached || b.key.Level() != LevelProxy {
			b.mu.Unlock()
			continue
		}
		active++
		switch {
		case b.phase() != PhaseClosed && b.origin == t.node && !b.manual:
			failing++
		case b.win != nil:
			if f, _, _ := b.windowLocked(now, pol).totals(); int(f) >= max(1, minFailures) {
				failing++
			}
		}
		b.mu.Unlock()
	}
	return failing, active
}
