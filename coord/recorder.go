package coord

import (
	"sync"
	"time"

	"github.com/proxywhirl/retrycoord/state"
)

// Attempt is the record of one attempt through one upstream.
type Attempt struct {
	Time      time.Time     // when the attempt ended
	RequestID uint64        // the request it belongs to, unique per Coordinator
	Attempt   int           // 1 for the first attempt of the request
	Upstream  string        // the upstream's key
	Site      string        // the site the attempt counted against; "" for none
	Class     Class         // what the result meant
	Reason    Reason        // why it failed (ReasonNone on success)
	Status    int           // HTTP status, 0 when there was no response
	Delay     time.Duration // the wait before this attempt
	Latency   time.Duration // how long the attempt took
	Err       string        // the error, credentials redacted; "" when none
}

// Event is a breaker transition as the recorder saw it.
type Event struct {
	Time     time.Time
	Level    state.Level // proxy, pair or site
	Upstream string      // the proxy ("" for a site)
	Site     string      // the site of a pair or a site
	From, To state.Phase
	Gen      uint64
	Source   state.Source // local, manual, gossip or ledger
	Origin   string       // the node that wrote the record
	Reason   string
}

// Sizes of what a Recorder keeps.
const (
	AttemptRing = 10_000 // raw attempts kept
	EventRing   = 1_000  // breaker events kept
	HoursKept   = 24     // hourly aggregates kept
	MaxHours    = 168    // the largest hours a query accepts
)

// Recorder keeps what became of every attempt: the last AttemptRing
// attempts, hourly aggregates for HoursKept hours (also per upstream), and
// the last EventRing breaker events. A Recorder is safe for concurrent use.
//
// Recording an attempt allocates nothing in the steady state and takes one
// short lock that concurrent attempts rarely share: the lock of the shard
// its request's id picks (recShards of them), which holds both that
// shard's ring of attempts and its hourly aggregates. Request ids come in
// blocks that stay with one processor (requestIDs), and a block's ids all
// pick one shard, so the requests running on one core record in one shard
// and those on another core most likely in another: nothing is written by
// every attempt — no global sequence number, no global lock — and two
// cores recording at once do not pass cache lines back and forth.
//
// The kept attempts stay exact: each shard keeps the AttemptRing of its
// attempts that ended last, so together they hold the AttemptRing of all
// that ended last, and Attempts merges the shards by the time each ended.
// The price is memory: up to recShards rings (1.2 MB each once full)
// instead of one.
type Recorder struct {
	shards [recShards]recShard

	evMu   sync.Mutex // guards events and nextEv
	events []Event    // ring, len EventRing once full
	nextEv int
	now    func() time.Time // for queries
}

// recShards is a power of two, well above the cores that record at once
// on the machines we run on, and low enough that the rings (up to one of
// AttemptRing attempts each) stay a few MB.
const recShards = 8

// shardOf returns the shard of the attempts of request id: that of its
// block of ids.
func shardOf(id uint64) uint32 {
	return uint32(((id - 1) / idBlockSize) % recShards)
}

// recShard holds some of the attempts and of the hourly aggregates.
type recShard struct {
	mu    sync.Mutex // guards everything below
	total uint64     // attempts ever recorded here
	// ring: the last attempts to end here, oldest first from ring[start],
	// in order of Time. Made at the shard's first attempt; once it holds
	// AttemptRing, each attempt replaces the oldest.
	ring  []Attempt
	start int
	hours [HoursKept]hourAgg
	_     [64]byte // keep the next shard's lock off this shard's last line
}

// hourAgg aggregates one wall-clock hour.
type hourAgg struct {
	hour      int64  // unix hours; 0: unused
	reset     uint64 // how many times this slot was reset for a new hour
	requests  uint64
	attempts  uint64
	successes uint64
	byAttempt [maxAttempts + 1]uint64 // successes by attempt number
	failures  [reasonCount]uint64     // failures and bans by reason
	latSum    time.Duration
	proxies   map[string]*proxyAgg
}

type proxyAgg struct {
	attempts, successes, failures, bans uint64
	latSum                              time.Duration
}

// recHint is what an Upstream remembers, per shard, of where its attempts
// are aggregated, so that recording skips looking it up in the hour's map:
// valid for the Recorder r while the slot of hour h still has the reset
// count it had when pa was found.
type recHint struct {
	r     *Recorder
	hour  int64
	reset uint64
	pa    *proxyAgg
}

const maxAttempts = 10

func newRecorder(now func() time.Time) *Recorder {
	return &Recorder{now: now}
}

func unixHour(t time.Time) int64 { return t.Unix() / 3600 }

// add records one attempt; u is the upstream it went through (nil: found
// by a.Upstream), a.Upstream its key.
func (r *Recorder) add(a *Attempt, u *Upstream) {
	si := shardOf(a.RequestID)
	var hint *recHint
	if u != nil {
		if hint = u.recHints[si].Load(); hint != nil && hint.r != r {
			hint = nil
		}
	}
	h := unixHour(a.Time)
	sh := &r.shards[si]
	sh.mu.Lock()
	sh.keep(a)

	agg := &sh.hours[h%HoursKept]
	if agg.hour != h {
		p, n := agg.proxies, agg.reset+1
		clear(p)
		*agg = hourAgg{hour: h, reset: n, proxies: p}
		if agg.proxies == nil {
			agg.proxies = make(map[string]*proxyAgg)
		}
	}
	if a.Attempt == 1 {
		agg.requests++
	}
	agg.attempts++
	agg.latSum += a.Latency
	var pa *proxyAgg
	if hint != nil && hint.hour == h && hint.reset == agg.reset {
		pa = hint.pa
	} else {
		if pa = agg.proxies[a.Upstream]; pa == nil {
			pa = new(proxyAgg)
			agg.proxies[a.Upstream] = pa
		}
		if u != nil { // once per upstream and hour
			u.recHints[si].Store(&recHint{r: r, hour: h, reset: agg.reset, pa: pa})
		}
	}
	pa.attempts++
	pa.latSum += a.Latency
	switch a.Class {
	case ClassSuccess:
		agg.successes++
		agg.byAttempt[min(a.Attempt, maxAttempts)]++
		pa.successes++
	case ClassBan:
		pa.bans++
		agg.failures[a.Reason]++
	default:
		pa.failures++
		agg.failures[a.Reason]++
	}
	sh.mu.Unlock()
}

// event records a breaker transition.
func (r *Recorder) event(ev Event) {
	r.evMu.Lock()
	if len(r.events) < EventRing {
		r.events = append(r.events, ev)
	} else {
		r.events[r.nextEv] = ev
	}
	r.nextEv = (r.nextEv + 1) % EventRing
	r.evMu.Unlock()
}

// Total returns how many attempts were ever recorded.
func (r *Recorder) Total() uint64 {
	var n uint64
	for i := range r.shards {
		sh := &r.shards[i]
		sh.mu.Lock()
		n += sh.total
		sh.mu.Unlock()
	}
	return n
}

// Attempts returns the n attempts that ended last (n ≤ 0 or above what is
// kept: all that is kept, at most AttemptRing), oldest first by the time
// they ended; attempts that ended at the same instant (a fake clock) by
// request id and attempt number. It holds every shard's lock while it
// merges them, a millisecond or so for the full AttemptRing.
func (r *Recorder) Attempts(n int) []Attempt {
	for i := range r.shards {
		r.shards[i].mu.Lock()
	}
	defer func() {
		for i := range r.shards {
			r.shards[i].mu.Unlock()
		}
	}()
	// next[i]: how many of shard i's kept attempts, newest first, are not
	// yet taken.
	var next [recShards]int
	held := 0
	for i := range r.shards {
		next[i] = len(r.shards[i].ring)
		held += next[i]
	}
	if n <= 0 || n > min(held, AttemptRing) {
		n = min(held, AttemptRing)
	}
	out := make([]Attempt, n)
	for k := n - 1; k >= 0; k-- { // newest first, from the back
		best := -1
		var bt *Attempt
		for i := range r.shards {
			if next[i] == 0 {
				continue
			}
			if a := r.shards[i].kept(next[i] - 1); best < 0 || before(bt, a) {
				best, bt = i, a
			}
		}
		next[best]--
		out[k] = *r.shards[best].kept(next[best])
	}
	return out
}

// keep puts a in the ring in its place by Time. Attempts reach the lock
// in the order they ended but for a goroutine preempted in between, so
// the place is nearly always the end; an attempt that ended before every
// kept one when the ring is full is not among the last and is not kept.
// The caller holds mu.
func (sh *recShard) keep(a *Attempt) {
	sh.total++
	switch {
	case len(sh.ring) < AttemptRing:
		if sh.ring == nil { // the shard's first attempt: its ring, once
			sh.ring = make([]Attempt, 0, AttemptRing)
		}
		sh.ring = append(sh.ring, *a)
	case before(a, &sh.ring[sh.start]):
		return
	default:
		sh.ring[sh.start] = *a
		sh.start = (sh.start + 1) % AttemptRing
	}
	for j := len(sh.ring) - 1; j > 0; j-- {
		cur, prev := sh.kept(j), sh.kept(j-1)
		if !before(cur, prev) {
			break
		}
		*cur, *prev = *prev, *cur
	}
}

// before reports whether a ended before b: by Time, and for attempts that
// ended at the same instant (a fake clock, a coarse one) by request id and
// attempt number.
func before(a, b *Attempt) bool {
	if c := a.Time.Compare(b.Time); c != 0 {
		return c < 0
	}
	if a.RequestID != b.RequestID {
		return a.RequestID < b.RequestID
	}
	return a.Attempt < b.Attempt
}

// kept returns the j-th oldest attempt the shard keeps (0 ≤ j < len(ring)).
// The caller holds mu.
func (sh *recShard) kept(j int) *Attempt {
	return &sh.ring[(sh.start+j)%len(sh.ring)]
}
