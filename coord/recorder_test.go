package coord

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/proxywhirl/retrycoord/internal/testutil"
	"github.com/proxywhirl/retrycoord/policy"
	"github.com/proxywhirl/retrycoord/state"
)

func TestRecorderAggregates(t *testing.T) {
	clk := newFakeClock()
	r := newRecorder(clk.Now)
	add := func(id uint64, n int, up string, class Class, reason Reason, lat time.Duration) {
		r.add(&Attempt{Time: clk.Now(), RequestID: id, Attempt: n, Upstream: up, Class: class, Reason: reason, Latency: lat}, nil)
	}
	add(1, 1, "a", ClassFailure, ReasonStatus, 10*time.Millisecond)
	add(1, 2, "b", ClassSuccess, ReasonNone, 30*time.Millisecond)
	clk.Advance(time.Hour)
	add(2, 1, "a", ClassBan, ReasonBan, 20*time.Millisecond)
	add(3, 1, "b", ClassSuccess, ReasonNone, 20*time.Millisecond)

	s := r.Summary()
	if s.Requests != 3 || s.Attempts != 4 || s.Successes != 2 || s.Retried != 1 || s.MeanLatency != 20*time.Millisecond {
		t.Errorf("Summary = %+v", s)
	}
	if diff := cmp.Diff(map[string]uint64{"status": 1, "ban": 1}, s.Failures); diff != "" {
		t.Errorf("Failures (-want +got):\n%s", diff)
	}
	ts, err := r.TimeSeries(2)
	if err != nil || len(ts) != 2 || ts[0].Requests != 1 || ts[1].Requests != 2 || ts[0].SuccessByAttempt[1] != 1 {
		t.Errorf("TimeSeries(2) = %+v, %v", ts, err)
	}
	if ts, _ := r.TimeSeries(1); len(ts) != 1 {
		t.Errorf("TimeSeries(1) has %d hours, want 1", len(ts))
	}
	bp, err := r.ByProxy(24)
	want := []ProxyStats{
		{Upstream: "a", Attempts: 2, Failures: 1, Bans: 1, MeanLatency: 15 * time.Millisecond},
		{Upstream: "b", Attempts: 2, Successes: 2, SuccessRate: 1, MeanLatency: 25 * time.Millisecond},
	}
	if diff := cmp.Diff(want, bp); err != nil || diff != "" {
		t.Errorf("ByProxy (-want +got):\n%s %v", diff, err)
	}
	for _, h := range []int{0, -1, 169} {
		if _, err := r.TimeSeries(h); err == nil {
			t.Errorf("TimeSeries(%d): want an error", h)
		}
		if _, err := r.ByProxy(h); err == nil {
			t.Errorf("ByProxy(%d): want an error", h)
		}
		if _, err := r.Events(h); err == nil {
			t.Errorf("Events(%d): want an error", h)
		}
	}
	// Hours older than HoursKept are dropped.
	clk.Advance(HoursKept * time.Hour)
	if s := r.Summary(); s.Attempts != 0 || s.Total != 4 {
		t.Errorf("Summary a day later = %+v, want nothing kept but Total 4", s)
	}
}

func TestRecorderRings(t *testing.T) {
	clk := newFakeClock()
	r := newRecorder(clk.Now)
	for i := range AttemptRing + 5 {
		r.add(&Attempt{Time: clk.Now(), RequestID: uint64(i), Attempt: 1}, nil)
	}
	as := r.Attempts(0)
	if len(as) != AttemptRing || as[0].RequestID != 5 || as[len(as)-1].RequestID != AttemptRing+4 {
		t.Errorf("ring holds %d from %d to %d", len(as), as[0].RequestID, as[len(as)-1].RequestID)
	}
	if last := r.Attempts(2); len(last) != 2 || last[1].RequestID != AttemptRing+4 {
		t.Errorf("Attempts(2) = %+v", last)
	}
	for i := range EventRing + 3 {
		r.event(Event{Time: clk.Now(), Gen: uint64(i)})
	}
	evs, _ := r.Events(1)
	if len(evs) != EventRing || evs[0].Gen != 3 {
		t.Errorf("events: %d from gen %d", len(evs), evs[0].Gen)
	}
}

func TestBreakerEventsAreRecorded(t *testing.T) {
	c, err := New(Config{Pool: Entries("http://a:1"), Document: policy.Document{Retry: fastRetry()}})
	if err != nil {
		t.Fatal(err)
	}
	run(t, c)
	t.Cleanup(func() { _ = c.Close() })
	testutil.Eventually(t, 5*time.Second, "Run to subscribe", func() bool {
		c.Table().Trip("http://a:1", 0, "by test")
		evs, _ := c.Recorder().Events(1)
		return len(evs) > 0
	})
	evs, _ := c.Recorder().Events(1)
	if ev := evs[0]; ev.Upstream != "http://a:1" || ev.To != state.PhaseOpen || ev.Source != state.SourceManual {
		t.Errorf("event %+v", ev)
	}
}

func TestRecordedErrorsAreRedacted(t *testing.T) {
	c, err := New(Config{Pool: Entries("http://user:s3cret@127.0.0.1:9"), Document: policy.Document{Retry: policy.RetryPolicy{MaxAttempts: 1}}})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Do(context.Background(), func(_ context.Context, u *Upstream) (*http.Response, error) {
		return nil, errors.New("dial " + u.URL().String() + ": refused")
	})
	if err == nil {
		t.Fatal("want an error")
	}
	as := c.Recorder().Attempts(1)
	if len(as) != 1 || as[0].Err == "" || strings.Contains(as[0].Err, "s3cret") {
		t.Errorf("recorded error %q", as[0].Err)
	}
}

// TestRecordedAttemptsCarryTheSite: an attempt is recorded with the site
// it counted against, from Do (ended, or panicked) and from ReportAt; none
// without a site.
func TestRecordedAttemptsCarryTheSite(t *testing.T) {
	c, err := New(Config{Pool: Entries("http://a:1"), Document: policy.Document{Retry: policy.RetryPolicy{MaxAttempts: 1}}})
	if err != nil {
		t.Fatal(err)
	}
	ok := func(context.Context, *Upstream) (*http.Response, error) {
		return &http.Response{StatusCode: http.StatusOK, Body: http.NoBody}, nil
	}
	shop := WithSite(context.Background(), "shop.example")
	if _, err := c.Do(shop, ok); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Do(context.Background(), ok); err != nil {
		t.Fatal(err)
	}
	func() {
		defer func() { _ = recover() }()
		_, _ = c.Do(WithSite(context.Background(), "panics.example"), func(context.Context, *Upstream) (*http.Response, error) {
			panic("boom")
		})
	}()
	if err := c.ReportAt("http://a:1", "api.example", ClassSuccess, 200, time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if err := c.Report("http://a:1", ClassSuccess, 200, time.Millisecond); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, a := range c.Recorder().Attempts(0) {
		got = append(got, a.Site)
	}
	want := []string{"shop.example", "", "panics.example", "api.example", ""}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("recorded sites (-want +got):\n%s", diff)
	}
}

// TestRecorderRingIsExactUnderConcurrency records from several goroutines
// at once, into two shards and more than each keeps, and checks that what
// Attempts returns is exactly the AttemptRing attempts that ended last, in
// the order they ended. Each attempt has a time of its own, interleaved
// across the writers, so the writers' attempts reach the recorder out of
// the order they ended.
func TestRecorderRingIsExactUnderConcurrency(t *testing.T) {
	const writers, each = 8, AttemptRing / 2
	base := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	at := func(w, i int) time.Time { return base.Add(time.Duration(i*writers+w) * time.Microsecond) }
	r := newRecorder(time.Now)
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				// Two shards (by request id) between eight writers: each
				// shard gets more than it keeps. Status and Delay say whose
				// attempt it is.
				r.add(&Attempt{Time: at(w, i), RequestID: 1 + uint64(w%2)*idBlockSize, Attempt: 1, Upstream: fmt.Sprintf("http://u%d:1", i%3),
					Status: w, Delay: time.Duration(i)}, nil)
			}
		}()
	}
	wg.Wait()
	if got, want := r.Total(), uint64(writers*each); got != want {
		t.Fatalf("Total = %d, want %d", got, want)
	}
	as := r.Attempts(0)
	if len(as) != AttemptRing {
		t.Fatalf("Attempts(0) holds %d, want %d", len(as), AttemptRing)
	}
	// The attempts that ended last are those of times first..last, one
	// per writer and step.
	first := writers*each - AttemptRing
	for k, a := range as {
		w, i := a.Status, int(a.Delay)
		if got, want := i*writers+w, first+k; got != want {
			t.Fatalf("Attempts(0)[%d] is writer %d's attempt %d (time %d), want time %d", k, w, i, got, want)
		}
		if !a.Time.Equal(at(w, i)) {
			t.Fatalf("Attempts(0)[%d] has time %v, want %v", k, a.Time, at(w, i))
		}
	}
	if got := r.Attempts(3); len(got) != 3 || got[2] != as[len(as)-1] || got[0] != as[len(as)-3] {
		t.Errorf("Attempts(3) = %+v, want the last three", got)
	}
}

// TestRecorderKeepsTheLastToEnd: in one shard, attempts that reach the
// recorder out of the order they ended are kept in the order they ended;
// once the ring is full the oldest goes, and an attempt that ended before
// every kept one is counted but not kept.
func TestRecorderKeepsTheLastToEnd(t *testing.T) {
	base := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	r := newRecorder(time.Now)
	add := func(ms int) {
		// One request id: one shard. Delay names the attempt.
		r.add(&Attempt{Time: base.Add(time.Duration(ms) * time.Millisecond), RequestID: 1, Attempt: 1, Upstream: "http://a:1", Delay: time.Duration(ms)}, nil)
	}
	// 2, 1, 4, 3, …: every other attempt arrives after the one that ended
	// after it.
	n := AttemptRing + 2
	for ms := 1; ms <= n; ms += 2 {
		add(ms + 1)
		add(ms)
	}
	add(0) // ended before every kept attempt
	if got := r.Total(); got != uint64(n+1) {
		t.Errorf("Total = %d, want %d", got, n+1)
	}
	as := r.Attempts(0)
	if len(as) != AttemptRing {
		t.Fatalf("Attempts(0) holds %d, want %d", len(as), AttemptRing)
	}
	for k, a := range as {
		if want := time.Duration(n - AttemptRing + 1 + k); a.Delay != want {
			t.Fatalf("Attempts(0)[%d] ended at %d ms, want %d ms", k, a.Delay, want)
		}
	}
}

// TestRecorderSumsEveryShard spreads attempts over every shard (the
// request ids of one block of ids after another) and checks that every
// query adds all of them up, the upstreams' figures too.
func TestRecorderSumsEveryShard(t *testing.T) {
	clk := newFakeClock()
	r := newRecorder(clk.Now)
	shards := map[uint32]bool{}
	const ups = 40
	for i := range ups {
		up := fmt.Sprintf("http://10.0.0.%d:8080", i%10)
		id := uint64(i)*idBlockSize/3 + 1
		shards[shardOf(id)] = true
		r.add(&Attempt{Time: clk.Now(), RequestID: id, Attempt: 1, Upstream: up, Class: ClassFailure, Reason: ReasonStatus, Latency: time.Millisecond}, nil)
		r.add(&Attempt{Time: clk.Now(), RequestID: id, Attempt: 2, Upstream: up, Class: ClassSuccess, Latency: 3 * time.Millisecond}, nil)
	}
	if len(shards) != recShards {
		t.Fatalf("the attempts cover %d shards; the test needs all %d", len(shards), recShards)
	}
	s := r.Summary()
	if s.Requests != ups || s.Attempts != 2*ups || s.Successes != ups || s.Retried != ups || s.MeanLatency != 2*time.Millisecond {
		t.Errorf("Summary = %+v", s)
	}
	if s.Failures["status"] != ups {
		t.Errorf("Failures = %v, want status: %d", s.Failures, ups)
	}
	ts, err := r.TimeSeries(1)
	if err != nil || len(ts) != 1 || ts[0].Attempts != 2*ups || ts[0].SuccessByAttempt[1] != ups {
		t.Errorf("TimeSeries(1) = %+v, %v", ts, err)
	}
	bp, err := r.ByProxy(1)
	if err != nil || len(bp) != 10 {
		t.Fatalf("ByProxy(1) has %d upstreams (%v), want 10", len(bp), err)
	}
	for _, p := range bp {
		if p.Attempts != 8 || p.Successes != 4 || p.Failures != 4 {
			t.Errorf("ByProxy %+v, want 8 attempts, 4 successes and 4 failures", p)
		}
	}
}

// TestRecorderAddAllocatesNothing pins the steady state: recording an
// attempt of a known upstream in the current hour allocates nothing.
func TestRecorderAddAllocatesNothing(t *testing.T) {
	r := newRecorder(time.Now)
	u, err := ParseUpstream(PoolEntry{URL: "http://a:1"})
	if err != nil {
		t.Fatal(err)
	}
	a := &Attempt{Time: time.Now(), Attempt: 1, Upstream: u.Key(), Class: ClassSuccess}
	r.add(a, u)
	if n := testing.AllocsPerRun(1000, func() { r.add(a, u) }); n != 0 {
		t.Errorf("add allocates %.1f times, want 0", n)
	}
	if n := testing.AllocsPerRun(1000, func() { r.add(a, nil) }); n != 0 {
		t.Errorf("add without the upstream allocates %.1f times, want 0", n)
	}
}

// TestRecorderUpstreamHint: an upstream remembers where its attempts are
// aggregated, and that memory must not outlive its hour, its recorder, or
// its hour slot being reused. Each step checks ByProxy, which reads the
// aggregates the way the admin API does.
func TestRecorderUpstreamHint(t *testing.T) {
	clk := newFakeClock()
	r := newRecorder(clk.Now)
	u, err := ParseUpstream(PoolEntry{URL: "http://a:1"})
	if err != nil {
		t.Fatal(err)
	}
	// other records in u's shard (the same request id): it reuses u's hour
	// slot a day later.
	other, err := ParseUpstream(PoolEntry{URL: "http://b:1"})
	if err != nil {
		t.Fatal(err)
	}
	record := func(r *Recorder, u *Upstream) {
		r.add(&Attempt{Time: clk.Now(), Attempt: 1, Upstream: u.Key(), Class: ClassSuccess}, u)
	}
	attempts := func(r *Recorder, hours int, u *Upstream) uint64 {
		t.Helper()
		ps, err := r.ByProxy(hours)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range ps {
			if p.Upstream == u.Key() {
				return p.Attempts
			}
		}
		return 0
	}

	record(r, u)
	r2 := newRecorder(clk.Now) // the same upstream in a second coordinator's recorder
	record(r2, u)
	if got, first := attempts(r2, 1, u), attempts(r, 1, u); got != 1 || first != 1 {
		t.Errorf("a second recorder holds %d attempts and the first %d, want 1 and 1", got, first)
	}
	record(r, u)
	if got := attempts(r, 1, u); got != 2 {
		t.Fatalf("this hour: %d attempts, want 2", got)
	}
	clk.Advance(time.Hour)
	record(r, u)
	if got, all := attempts(r, 1, u), attempts(r, 2, u); got != 1 || all != 3 {
		t.Errorf("the next hour: %d attempts (%d over two hours), want 1 (3)", got, all)
	}

	// A day later other reuses u's hour slot; then the clock steps back a
	// day and u records in that slot again, made anew.
	clk.Advance(HoursKept * time.Hour)
	record(r, other)
	clk.Advance(-HoursKept * time.Hour)
	record(r, u)
	if got := attempts(r, 1, u); got != 1 {
		t.Errorf("after the slot was reused: %d attempts this hour, want 1", got)
	}
}

// TestRecorderOrdersTiesByRequestAndAttempt: attempts that ended at the
// same instant (a frozen clock) come out by request id, and a request's
// own attempts in the order they were made.
func TestRecorderOrdersTiesByRequestAndAttempt(t *testing.T) {
	clk := newFakeClock()
	r := newRecorder(clk.Now)
	for _, a := range []Attempt{{RequestID: 7, Attempt: 1}, {RequestID: 7, Attempt: 2}, {RequestID: 3, Attempt: 1}, {RequestID: 7, Attempt: 3}} {
		a.Time, a.Upstream = clk.Now(), "http://a:1"
		r.add(&a, nil)
	}
	var got []string
	for _, a := range r.Attempts(0) {
		got = append(got, fmt.Sprintf("%d/%d", a.RequestID, a.Attempt))
	}
	if want := []string{"3/1", "7/1", "7/2", "7/3"}; !slices.Equal(got, want) {
		t.Errorf("Attempts(0) = %v, want %v", got, want)
	}
}
