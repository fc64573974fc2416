package state

// bucketsPerWindow is how many fixed buckets a rolling window is cut into.
// The ring holds one more, so that a failure exactly Window old still counts;
// a failure leaves the window at most Window/bucketsPerWindow after that.
const (
	bucketsPerWindow = 60
	windowSlots      = bucketsPerWindow + 1
)

// bucket counts one slice of a window.
type bucket struct {
	failures uint32
	calls    uint32 // every settled call, failures included, once the window exists
	slow     uint32 // only when a slow-call rate is configured
}

// originCounts is another node's failure evidence for one breaker: its
// cumulative failure and call counts per bucket, merged by taking the
// maximum. Buckets keep the index the origin gave them, so that a count
// re-sent lands where it landed before. head is the newest index it holds
// (never behind the window's head): a node whose clock is ahead sends
// buckets ahead of this node's newest, and its ring covers the window as
// that node counts it.
type originCounts struct {
	origin string
	head   int64
	counts [windowSlots]uint32
	calls  [windowSlots]uint32
}

// advance moves the origin's newest bucket to idx, zeroing the buckets it
// passes.
func (r *originCounts) advance(idx int64) {
	if idx <= r.head {
		return
	}
	if idx-r.head >= windowSlots {
		r.counts = [windowSlots]uint32{}
		r.calls = [windowSlots]uint32{}
	} else {
		for i := r.head + 1; i <= idx; i++ {
			s := slot(i)
			r.counts[s], r.calls[s] = 0, 0
		}
	}
	r.head = idx
}

// maxSpread bounds the names a roll-up remembers: enough to reach any
// sensible SpreadSites or SpreadProxies, and to name a few in a reason.
const maxSpread = 16

// spreadEntry is one distinct name (a site failing through a proxy, or a
// proxy failing for a site) and the newest bucket it failed in.
type spreadEntry struct {
	name string
	idx  int64
}

// window is a breaker's rolling window: its own counts and the evidence
// other nodes sent, in buckets indexed by absolute bucket number (wall time
// divided by the bucket width), so that nodes agree on what a bucket is.
// It is allocated on first use and dropped when it has nothing in it.
// Not safe for concurrent use: the breaker's lock guards it.
type window struct {
	head   int64 // absolute index of the newest bucket
	own    [windowSlots]bucket
	remote []*originCounts
	spread []spreadEntry // roll-ups only: distinct names that failed, at most maxSpread
}

// noteSpread records that name failed in bucket idx, replacing the oldest
// entry when full.
func (w *window) noteSpread(name string, idx int64) {
	oldest := -1
	for i := range w.spread {
		e := &w.spread[i]
		if e.name == name {
			e.idx = max(e.idx, idx)
			return
		}
		if oldest < 0 || e.idx < w.spread[oldest].idx {
			oldest = i
		}
	}
	if len(w.spread) < maxSpread {
		w.spread = append(w.spread, spreadEntry{name: name, idx: idx})
		return
	}
	w.spread[oldest] = spreadEntry{name: name, idx: idx}
}

// spreadCount returns how many distinct names failed within the window,
// and up to limit of them in the order they were first noted.
func (w *window) spreadCount(limit int) (n int, names []string) {
	for _, e := range w.spread {
		if w.inWindow(e.idx) {
			n++
			if len(names) < limit {
				names = append(names, e.name)
			}
		}
	}
	return n, names
}

func slot(idx int64) int64 { return ((idx % windowSlots) + windowSlots) % windowSlots }

// advance moves the newest bucket to idx, zeroing the buckets it passes,
// this node's and every origin's.
func (w *window) advance(idx int64) {
	if idx <= w.head {
		return
	}
	if idx-w.head >= windowSlots {
		w.own = [windowSlots]bucket{}
	} else {
		for i := w.head + 1; i <= idx; i++ {
			w.own[slot(i)] = bucket{}
		}
	}
	w.head = idx
	for _, r := range w.remote {
		r.advance(idx)
	}
}

// newest returns the newest bucket index the window holds counts for: its
// head, or an origin's bucket ahead of it.
func (w *window) newest() int64 {
	n := w.head
	for _, r := range w.remote {
		n = max(n, r.head)
	}
	return n
}

// inWindow reports whether absolute bucket idx is still inside the window.
func (w *window) inWindow(idx int64) bool {
	return idx <= w.head && idx > w.head-windowSlots
}

// totals sums this node's own counts over the window.
func (w *window) totals() (failures, calls, slow uint32) {
	for i := range w.own {
		failures += w.own[i].failures
		calls += w.own[i].calls
		slow += w.own[i].slow
	}
	return failures, calls, slow
}

// fleet sums this node's failures and calls and every other node's
// evidence, and counts the nodes with at least one failure in the window.
func (w *window) fleet() (failures, calls uint32, reporters int) {
	own, ownCalls, _ := w.totals()
	calls = ownCalls
	if own > 0 {
		failures, reporters = own, 1
	}
	for _, r := range w.remote {
		var sum, n uint32
		for i, c := range r.counts {
			sum += c
			n += max(r.calls[i], c)
		}
		if sum > 0 {
			failures += sum
			reporters++
		}
		calls += n
	}
	return failures, calls, reporters
}

// mergeEvidence takes another node's cumulative counts, each bucket at the
// index the origin gave it, by maximum. Buckets up to ahead buckets ahead
// of the newest (a clock ahead of this node's, within the skew allowed) are
// kept at their index: folding them into the newest bucket would count a
// failure twice once this node's clock reached its bucket and it was sent
// again (issue 12, soak seed 2). Buckets further ahead, and buckets behind
// the origin's window, are dropped; it returns how many were dropped for
// being ahead.
func (w *window) mergeEvidence(origin string, buckets []EvidenceBucket, ahead int64) (dropped int) {
	var oc *originCounts
	for _, r := range w.remote {
		if r.origin == origin {
			oc = r
			break
		}
	}
	if oc == nil {
		oc = &originCounts{origin: origin, head: w.head}
		w.remote = append(w.remote, oc)
	}
	for _, b := range buckets {
		if b.Index > w.head+ahead {
			dropped++
			continue
		}
		oc.advance(b.Index)
		if b.Index <= oc.head-windowSlots {
			continue // behind the window
		}
		s := slot(b.Index)
		oc.counts[s] = max(oc.counts[s], b.Failures)
		oc.calls[s] = max(oc.calls[s], b.Calls)
	}
	return dropped
}

// evidence appends this node's own buckets with calls in them, oldest
// first.
func (w *window) evidence(dst []EvidenceBucket) []EvidenceBucket {
	for idx := w.head - windowSlots + 1; idx <= w.head; idx++ {
		if b := w.own[slot(idx)]; b.failures > 0 || b.calls > 0 {
			dst = append(dst, EvidenceBucket{Index: idx, Failures: b.failures, Calls: b.calls})
		}
	}
	return dst
}

// empty reports whether nothing is counted in the window.
func (w *window) empty() bool {
	f, c, s := w.totals()
	if f != 0 || c != 0 || s != 0 {
		return false
	}
	n, c, _ := w.fleet()
	if n != 0 || c != 0 {
		return false
	}
	k, _ := w.spreadCount(0)
	return k == 0
}
