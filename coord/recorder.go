package coord

import (
	"sync"
	"sync/atomic"
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

// Recorder keeps what became of every attempt: a ring of the last
// AttemptRing attempts, hourly aggregates for HoursKept hours (also per
// upstream), and the last EventRing breaker events. Recording allocates
// nothing in the steady state and takes two short locks that concurrent
// attempts rarely share: the lock of the ring slot the attempt's sequence
// number picks, and one of aggShards locks over the aggregates of the
// upstream's shard. The ring stays exact: Attempts
// returns the last attempts in the order they were numbered. A Recorder is
// safe for concurrent use.
type Recorder struct {
	total  atomic.Uint64 // attempts ever recorded: the last sequence number handed out
	ring   []attemptSlot // len AttemptRing; sequence s lives in ring[(s-1)%AttemptRing]
	shards [aggShards]aggShard

	evMu   sync.Mutex // guards events and nextEv
	events []Event    // ring, len EventRing once full
	nextEv int
	now    func() time.Time // for queries
}

// aggShards is a power of two, far above the cores that record at once.
const aggShards = 16

// shardOf returns the aggregate shard of an upstream key: FNV-1a, so that
// an upstream's shard is the same in every run.
func shardOf(key string) uint32 {
	h := uint32(2166136261)
	for i := range len(key) {
		h ^= uint32(key[i])
		h *= 16777619
	}
	return h % aggShards
}

// attemptSlot is one slot of the ring: the attempt numbered seq (0: never
// written), under a lock of its own on the same cache lines.
type attemptSlot struct {
	mu  sync.Mutex // guards seq and a
	seq uint64
	a   Attempt
}

// aggShard holds the hourly aggregates of the upstreams that hash to it.
type aggShard struct {
	mu    sync.Mutex // guards hours
	hours [HoursKept]hourAgg
	_     [64]byte
}

// hourAgg aggregates one wall-clock hour.
type hourAgg struct {
	hour      int64 // unix hours; 0: unused
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

const maxAttempts = 10

func newRecorder(now func() time.Time) *Recorder {
	return &Recorder{ring: make([]attemptSlot, AttemptRing), now: now}
}

func unixHour(t time.Time) int64 { return t.Unix() / 3600 }

// add records one attempt.
func (r *Recorder) add(a *Attempt) {
	seq := r.total.Add(1)
	i := (seq - 1) % AttemptRing
	sl := &r.ring[i]
	sl.mu.Lock()
	if sl.seq < seq { // a writer 10,000 attempts later may have been quicker
		sl.seq, sl.a = seq, *a
	}
	sl.mu.Unlock()

	h := unixHour(a.Time)
	sh := &r.shards[shardOf(a.Upstream)]
	sh.mu.Lock()
	agg := &sh.hours[h%HoursKept]
	if agg.hour != h {
		p := agg.proxies
		clear(p)
		*agg = hourAgg{hour: h, proxies: p}
		if agg.proxies == nil {
			agg.proxies = make(map[string]*proxyAgg)
		}
	}
	if a.Attempt == 1 {
		agg.requests++
	}
	agg.attempts++
	agg.latSum += a.Latency
	pa := agg.proxies[a.Upstream]
	if pa == nil {
		pa = new(proxyAgg)
		agg.proxies[a.Upstream] = pa
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

// Total returns how many attempts were ever recorded (or are being
// recorded right now).
func (r *Recorder) Total() uint64 { return r.total.Load() }

// Attempts returns up to n of the most recent attempts, oldest first (n ≤ 0
// or above what is kept: all that is kept). An attempt still being
// recorded by another goroutine when Attempts reads its slot is left out.
func (r *Recorder) Attempts(n int) []Attempt {
	last := r.total.Load()
	held := int(min(last, AttemptRing))
	if n <= 0 || n > held {
		n = held
	}
	out := make([]Attempt, 0, n)
	for seq := last - uint64(n) + 1; seq <= last; seq++ {
		i := (seq - 1) % AttemptRing
		sl := &r.ring[i]
		sl.mu.Lock()
		if sl.seq == seq {
			out = append(out, sl.a)
		}
		sl.mu.Unlock()
	}
	return out
}
