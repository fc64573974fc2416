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
	calls    uint32 // only when a rate is configured
	slow     uint32 // only when a slow-call rate is configured
}

// originCounts is another node's failure evidence for one upstream: its
// cumulative failure count per bucket, merged by taking the maximum.
type originCounts struct {
	origin string
	counts [windowSlots]uint32
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
}

func slot(idx int64) int64 { return ((idx % windowSlots) + windowSlots) % windowSlots }

// advance moves the newest bucket to idx, zeroing the buckets it passes.
func (w *window) advance(idx int64) {
	if idx <= w.head {
		return
	}
	if idx-w.head >= windowSlots {
		w.own = [windowSlots]bucket{}
		for _, r := range w.remote {
			r.counts = [windowSlots]uint32{}
		}
	} else {
		for i := w.head + 1; i <= idx; i++ {
			s := slot(i)
			w.own[s] = bucket{}
			for _, r := range w.remote {
				r.counts[s] = 0
			}
		}
	}
	w.head = idx
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

// fleet sums this node's failures and every other node's evidence, and
// counts the nodes with at least one failure in the window.
func (w *window) fleet() (failures uint32, reporters int) {
	own, _, _ := w.totals()
	if own > 0 {
		failures, reporters = own, 1
	}
	for _, r := range w.remote {
		var sum uint32
		for _, c := range r.counts {
			sum += c
		}
		if sum > 0 {
			failures += sum
			reporters++
		}
	}
	return failures, reporters
}

// mergeEvidence takes another node's cumulative counts; buckets ahead of the
// newest (a fast clock) land in the newest, buckets behind the window are
// dropped.
func (w *window) mergeEvidence(origin string, buckets []EvidenceBucket) {
	var oc *originCounts
	for _, r := range w.remote {
		if r.origin == origin {
			oc = r
			break
		}
	}
	if oc == nil {
		oc = &originCounts{origin: origin}
		w.remote = append(w.remote, oc)
	}
	for _, b := range buckets {
		idx := min(b.Index, w.head)
		if !w.inWindow(idx) {
			continue
		}
		s := slot(idx)
		oc.counts[s] = max(oc.counts[s], b.Failures)
	}
}

// evidence appends this node's own non-zero failure buckets, oldest first.
func (w *window) evidence(dst []EvidenceBucket) []EvidenceBucket {
	for idx := w.head - windowSlots + 1; idx <= w.head; idx++ {
		if f := w.own[slot(idx)].failures; f > 0 {
			dst = append(dst, EvidenceBucket{Index: idx, Failures: f})
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
	n, _ := w.fleet()
	return n == 0
}
