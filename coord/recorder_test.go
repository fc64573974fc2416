package coord

import (
	"context"
	"errors"
	"net/http"
	"strings"
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
		r.add(&Attempt{Time: clk.Now(), RequestID: id, Attempt: n, Upstream: up, Class: class, Reason: reason, Latency: lat})
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
		r.add(&Attempt{Time: clk.Now(), RequestID: uint64(i), Attempt: 1})
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
