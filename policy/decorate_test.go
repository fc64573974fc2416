package policy_test

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/proxywhirl/retrycoord/policy"
	"github.com/sethvargo/go-retry"
)

// take returns up to n waits of b, stopping early when it stops.
func take(b retry.Backoff, n int) []time.Duration {
	var out []time.Duration
	for range n {
		d, stop := b.Next()
		if stop {
			break
		}
		out = append(out, d)
	}
	return out
}

func TestDefaultBackoffIsTheWaits(t *testing.T) {
	p := policy.RetryPolicy{BaseDelay: time.Second, Backoff: policy.BackoffExponential, MaxDelay: 5 * time.Second}
	w := p.NewWaits()
	want := []time.Duration{w.Next(), w.Next(), w.Next(), w.Next(), w.Next()}
	if diff := cmp.Diff(want, take(policy.DefaultBackoff(p), 5)); diff != "" {
		t.Errorf("waits (-NewWaits +DefaultBackoff):\n%s", diff)
	}
}

func TestRequestRules(t *testing.T) {
	p := policy.RetryPolicy{MaxDelay: 2 * time.Second}
	for _, tc := range []struct {
		name   string
		engine retry.Backoff
		ignore bool
		hints  []time.Duration // Retry-After before each wait
		want   []time.Duration
	}{
		{"engine as is", retry.NewConstant(100 * time.Millisecond), false, nil,
			[]time.Duration{100 * time.Millisecond, 100 * time.Millisecond}},
		{"Retry-After raises one wait", retry.NewConstant(100 * time.Millisecond), false, []time.Duration{time.Second, 0},
			[]time.Duration{time.Second, 100 * time.Millisecond}},
		{"Retry-After never lowers", retry.NewConstant(time.Second), false, []time.Duration{time.Millisecond},
			[]time.Duration{time.Second, time.Second}},
		{"MaxDelay caps Retry-After", retry.NewConstant(100 * time.Millisecond), false, []time.Duration{time.Hour},
			[]time.Duration{2 * time.Second, 100 * time.Millisecond}},
		{"MaxDelay caps the engine", retry.NewConstant(time.Hour), false, nil,
			[]time.Duration{2 * time.Second, 2 * time.Second}},
		{"IgnoreRetryAfter", retry.NewConstant(100 * time.Millisecond), true, []time.Duration{time.Second},
			[]time.Duration{100 * time.Millisecond, 100 * time.Millisecond}},
		{"the engine stops", retry.WithMaxRetries(1, retry.NewConstant(time.Millisecond)), false, nil,
			[]time.Duration{time.Millisecond}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := p
			p.IgnoreRetryAfter = tc.ignore
			b, ra := p.WithRequestRules(tc.engine, time.Time{})
			if (ra == nil) != tc.ignore {
				t.Fatalf("RetryAfter = %v with IgnoreRetryAfter %v", ra, tc.ignore)
			}
			var got []time.Duration
			for i := range 2 {
				if ra != nil && i < len(tc.hints) {
					ra.Hint(tc.hints[i])
				}
				d, stop := b.Next()
				if stop {
					break
				}
				got = append(got, d)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("waits (-want +got):\n%s", diff)
			}
		})
	}
}

// TestDeadlineStops: a wait that would reach the deadline stops the
// backoff; one that ends before it is kept.
func TestDeadlineStops(t *testing.T) {
	deadline := time.Now().Add(time.Hour)
	b := policy.WithDeadline(deadline, retry.NewConstant(time.Minute))
	if d, stop := b.Next(); stop || d != time.Minute {
		t.Errorf("a wait well before the deadline: %v, %v; want 1m, false", d, stop)
	}
	b = policy.WithDeadline(deadline, retry.NewConstant(2*time.Hour))
	if _, stop := b.Next(); !stop {
		t.Error("a wait past the deadline did not stop")
	}
	if got := policy.WithDeadline(time.Time{}, retry.NewConstant(2*time.Hour)); take(got, 1)[0] != 2*time.Hour {
		t.Error("a zero deadline changed the waits")
	}
}
