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

// kept returns the aggregates of the last hours hours up to now, oldest
// first. The caller holds mu.
func (r *Recorder) keptLocked(now time.Time, hours int) []*hourAgg {
	cur := unixHour(now)
	var out []*hourAgg
	for h := cur - int64(min(hours, HoursKept)) + 1; h <= cur; h++ {
		if a := &r.hours[((h%HoursKept)+HoursKept)%HoursKept]; a.hour == h && a.hour != 0 {
			out = append(out, a)
		}
	}
	return out
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
	now := r.now()
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []HourStats
	for _, a := range r.keptLocked(now, hours) {
		out = append(out, a.stats())
	}
	return out, nil
}

// Summary aggregates every kept hour.
func (r *Recorder) Summary() Summary {
	now := r.now()
	r.mu.Lock()
	defer r.mu.Unlock()
	s := Summary{Total: r.total}
	s.SuccessByAttempt = make([]uint64, maxAttempts)
	s.Failures = map[string]uint64{}
	var lat time.Duration
	for _, a := range r.keptLocked(now, HoursKept) {
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
	now := r.now()
	r.mu.Lock()
	sum := map[string]proxyAgg{}
	for _, a := range r.keptLocked(now, hours) {
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
	r.mu.Unlock()
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
	r.mu.Lock()
	defer r.mu.Unlock()
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
