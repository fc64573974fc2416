package coord

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// HourStats aggregates one hour of attempts.
type HourStats struct {
	Hour             time.Time         // the start of the hour, UTC
	Requests         uint64            // distinct requests (first attempts)
	Attempts         uint64            // attempts
	Successes        uint64            // attempts that succeeded
	SuccessByAttempt []uint64          // successes by attempt number: [0] is attempt 1
	Failures         map[string]uint64 // failed attempts (bans included) by reason
	MeanLatency      time.Duration     // over every attempt
}

// Summary aggregates every hour the recorder keeps (HoursKept).
type Summary struct {
	HourStats
	Total       uint64  // attempts ever recorded, beyond the kept hours too
	SuccessRate float64 // Successes / Attempts over the kept hours (0 when none)
	Retried     uint64  // successes that needed more than one attempt
}

// ProxyStats aggregates one upstream over some hours.
type ProxyStats struct {
	Upstream    string
	Attempts    uint64
	Successes   uint64
	Failures    uint64 // failures other than bans
	Bans        uint64
	SuccessRate float64
	MeanLatency time.Duration
}

func checkHours(hours int) error {
	if hours < 1 || hours > MaxHours {
		return fmt.Errorf("coord: hours %d out of range 1–%d", hours, MaxHours)
	}
	return nil
}

// kept returns the aggregates of the last hours hours up to now that hold
// attempts, oldest first, each summed over the shards (without the
// per-upstream maps). It takes each shard's lock in turn.
func (r *Recorder) kept(now time.Time, hours int) []hourAgg {
	cur := unixHour(now)
	first := cur - int64(min(hours, HoursKept)) + 1
	var sum [HoursKept]hourAgg // sum[h-first]
	for i := range r.shards {
		sh := &r.shards[i]
		sh.mu.Lock()
		for h := first; h <= cur; h++ {
			if a := &sh.hours[((h%HoursKept)+HoursKept)%HoursKept]; a.hour == h && a.hour != 0 {
				sum[h-first].merge(a)
			}
		}
		sh.mu.Unlock()
	}
	var out []hourAgg
	for _, a := range sum[:cur-first+1] {
		if a.hour != 0 {
			out = append(out, a)
		}
	}
	return out
}

// merge adds o's counters (not its per-upstream map) to a.
func (a *hourAgg) merge(o *hourAgg) {
	a.hour = o.hour
	a.requests += o.requests
	a.attempts += o.attempts
	a.successes += o.successes
	for i, n := range o.byAttempt {
		a.byAttempt[i] += n
	}
	for i, n := range o.failures {
		a.failures[i] += n
	}
	a.latSum += o.latSum
}

func (a *hourAgg) stats() HourStats {
	s := HourStats{
		Hour:             time.Unix(a.hour*3600, 0).UTC(),
		Requests:         a.requests,
		Attempts:         a.attempts,
		Successes:        a.successes,
		SuccessByAttempt: slices.Clone(a.byAttempt[1:]),
		Failures:         map[string]uint64{},
	}
	for i, n := range a.failures {
		if n > 0 {
			s.Failures[Reason(i).String()] = n
		}
	}
	if a.attempts > 0 {
		s.MeanLatency = a.latSum / time.Duration(a.attempts)
	}
	return s
}

// TimeSeries returns one HourStats per kept hour with attempts among the
// last hours hours (1–168; only HoursKept are kept), oldest first.
func (r *Recorder) TimeSeries(hours int) ([]HourStats, error) {
	if err := checkHours(hours); err != nil {
		return nil, err
	}
	var out []HourStats
	for _, a := range r.kept(r.now(), hours) {
		out = append(out, a.stats())
	}
	return out, nil
}

// Summary aggregates every kept hour.
func (r *Recorder) Summary() Summary {
	now := r.now()
	s := Summary{Total: r.Total()}
	s.SuccessByAttempt = make([]uint64, maxAttempts)
	s.Failures = map[string]uint64{}
	var lat time.Duration
	for _, a := range r.kept(now, HoursKept) {
		s.Requests += a.requests
		s.Attempts += a.attempts
		s.Successes += a.successes
		lat += a.latSum
		for i, n := range a.byAttempt[1:] {
			s.SuccessByAttempt[i] += n
		}
		for i, n := range a.failures {
			if n > 0 {
				s.Failures[Reason(i).String()] += n
			}
		}
	}
	s.Hour = time.Unix(unixHour(now)*3600, 0).UTC()
	if s.Attempts > 0 {
		s.MeanLatency = lat / time.Duration(s.Attempts)
		s.SuccessRate = float64(s.Successes) / float64(s.Attempts)
	}
	s.Retried = s.Successes - s.SuccessByAttempt[0]
	return s
}

// ByProxy aggregates each upstream over the last hours hours (1–168),
// sorted by upstream key.
func (r *Recorder) ByProxy(hours int) ([]ProxyStats, error) {
	if err := checkHours(hours); err != nil {
		return nil, err
	}
	cur := unixHour(r.now())
	first := cur - int64(min(hours, HoursKept)) + 1
	sum := map[string]proxyAgg{}
	for i := range r.shards {
		sh := &r.shards[i]
		sh.mu.Lock()
		for h := first; h <= cur; h++ {
			a := &sh.hours[((h%HoursKept)+HoursKept)%HoursKept]
			if a.hour != h || a.hour == 0 {
				continue
			}
			for k, p := range a.proxies {
				s := sum[k]
				s.attempts += p.attempts
				s.successes += p.successes
				s.failures += p.failures
				s.bans += p.bans
				s.latSum += p.latSum
				sum[k] = s
			}
		}
		sh.mu.Unlock()
	}
	out := make([]ProxyStats, 0, len(sum))
	for k, p := range sum {
		ps := ProxyStats{Upstream: k, Attempts: p.attempts, Successes: p.successes, Failures: p.failures, Bans: p.bans}
		if p.attempts > 0 {
			ps.SuccessRate = float64(p.successes) / float64(p.attempts)
			ps.MeanLatency = p.latSum / time.Duration(p.attempts)
		}
		out = append(out, ps)
	}
	slices.SortFunc(out, func(a, b ProxyStats) int { return strings.Compare(a.Upstream, b.Upstream) })
	return out, nil
}

// Events returns the kept breaker events of the last hours hours (1–168),
// oldest first.
func (r *Recorder) Events(hours int) ([]Event, error) {
	if err := checkHours(hours); err != nil {
		return nil, err
	}
	now := r.now()
	since := now.Add(-time.Duration(hours) * time.Hour)
	r.evMu.Lock()
	defer r.evMu.Unlock()
	var out []Event
	n := len(r.events)
	for i := range n {
		ev := r.events[(r.nextEv+i)%n]
		if n < EventRing {
			ev = r.events[i]
		}
		if !ev.Time.Before(since) {
			out = append(out, ev)
		}
	}
	return out, nil
}
