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
// upstream), and the last EventRing breaker events. Recording takes one
// short lock and, in the steady state, allocates nothing. A Recorder is
// safe for concurrent use.
type Recorder struct {
	mu       sync.Mutex // guards everything below
	attempts []Attempt  // ring, len AttemptRing once full
	next     int        // next slot in attempts
	total    uint64     // attempts ever recorded
	hours    [HoursKept]hourAgg
	events   []Event // ring, len EventRing once full
	nextEv   int
	now      func() time.Time // for queries
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
	return &Recorder{attempts: make([]Attempt, 0, AttemptRing), now: now}
}

func unixHour(t time.Time) int64 { return t.Unix() / 3600 }

// add records one attempt.
func (r *Recorder) add(a *Attempt) {
	h := unixHour(a.Time)
	r.mu.Lock()
	if len(r.attempts) < AttemptRing {
		r.attempts = append(r.attempts, *a)
	} else {
		r.attempts[r.next] = *a
	}
	r.next = (r.next + 1) % AttemptRing
	r.total++
	agg := &r.hours[h%HoursKept]
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
	r.mu.Unlock()
}

// event records a breaker transition.
func (r *Recorder) event(ev Event) {
	r.mu.Lock()
	if len(r.events) < EventRing {
		r.events = append(r.events, ev)
	} else {
		r.events[r.nextEv] = ev
	}
	r.nextEv = (r.nextEv + 1) % EventRing
	r.mu.Unlock()
}

// Total returns how many attempts were ever recorded.
func (r *Recorder) Total() uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.total
}

// Attempts returns up to n of the most recent attempts, oldest first (n ≤ 0
// or above what is kept: all that is kept).
func (r *Recorder) Attempts(n int) []Attempt {
	r.mu.Lock()
	defer r.mu.Unlock()
	held := len(r.attempts)
	if n <= 0 || n > held {
		n = held
	}
	out := make([]Attempt, 0, n)
	if held < AttemptRing {
		return append(out, r.attempts[held-n:]...)
	}
	for i := range n {
		out = append(out, r.attempts[(r.next+held-n+i)%AttemptRing])
	}
	return out
}
