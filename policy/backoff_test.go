package policy_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/sethvargo/go-retry"

	"github.com/proxywhirl/retrycoord/policy"
)

const s = time.Second

func TestWaitsWithoutJitter(t *testing.T) {
	tests := []struct {
		name string
		p    policy.RetryPolicy
		want []time.Duration
	}{
		{"exponential", policy.RetryPolicy{}, []time.Duration{1 * s, 2 * s, 4 * s, 8 * s}},
		{"exponential capped", policy.RetryPolicy{MaxDelay: 5 * s}, []time.Duration{1 * s, 2 * s, 4 * s, 5 * s, 5 * s}},
		{"exponential fractional", policy.RetryPolicy{Multiplier: 1.5, MaxDelay: 3 * s}, []time.Duration{1 * s, 1500 * time.Millisecond, 2250 * time.Millisecond, 3 * s}},
		{"exponential 1.1 rounds to ns", policy.RetryPolicy{Multiplier: 1.1}, []time.Duration{1 * s, 1100 * time.Millisecond, 1210 * time.Millisecond, 1331 * time.Millisecond}},
		{"exponential never overflows", policy.RetryPolicy{Multiplier: 10, BaseDelay: 60 * s, MaxDelay: 300 * s}, []time.Duration{60 * s, 300 * s, 300 * s, 300 * s}},
		{"linear", policy.RetryPolicy{Backoff: policy.BackoffLinear, BaseDelay: 2 * s}, []time.Duration{2 * s, 4 * s, 6 * s, 8 * s}},
		{"linear capped", policy.RetryPolicy{Backoff: policy.BackoffLinear, BaseDelay: 5 * s, MaxDelay: 12 * s}, []time.Duration{5 * s, 10 * s, 12 * s, 12 * s}},
		{"fixed", policy.RetryPolicy{Backoff: policy.BackoffFixed, BaseDelay: 3 * s}, []time.Duration{3 * s, 3 * s, 3 * s}},
		{"fixed capped", policy.RetryPolicy{Backoff: policy.BackoffFixed, BaseDelay: 10 * s, MaxDelay: 2 * s}, []time.Duration{2 * s, 2 * s}},
		{"jitter none", policy.RetryPolicy{Jitter: policy.JitterNone}, []time.Duration{1 * s, 2 * s, 4 * s}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := tt.p.NewWaits()
			var got, delays []time.Duration
			for i := range tt.want {
				got = append(got, w.Next())
				delays = append(delays, tt.p.Delay(i))
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Waits mismatch (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.want, delays); diff != "" {
				t.Errorf("Delay mismatch (-want +got):\n%s", diff)
			}
		})
	}
	if got := (policy.RetryPolicy{}).Delay(1000); got != 30*s {
		t.Errorf("Delay(1000) = %v, want the cap 30s", got)
	}
	if got := (policy.RetryPolicy{}).Delay(-1); got != s {
		t.Errorf("Delay(-1) = %v, want the base 1s", got)
	}
	var zero policy.Waits
	if got := zero.Next(); got != 0 {
		t.Errorf("zero Waits.Next() = %v, want 0", got)
	}
}

func TestWaitsJitter(t *testing.T) {
	const draws = 1000
	tests := []struct {
		name string
		p    policy.RetryPolicy
		// bounds returns the allowed range of the n-th wait.
		bounds func(p policy.RetryPolicy, n int) (lo, hi time.Duration)
	}{
		{"full", policy.RetryPolicy{Jitter: policy.JitterFull, MaxDelay: 10 * s},
			func(p policy.RetryPolicy, n int) (time.Duration, time.Duration) { return 0, p.Delay(n) }},
		{"full linear", policy.RetryPolicy{Jitter: policy.JitterFull, Backoff: policy.BackoffLinear},
			func(p policy.RetryPolicy, n int) (time.Duration, time.Duration) { return 0, p.Delay(n) }},
		{"equal", policy.RetryPolicy{Jitter: policy.JitterEqual, MaxDelay: 10 * s},
			func(p policy.RetryPolicy, n int) (time.Duration, time.Duration) { return p.Delay(n) / 2, p.Delay(n) }},
		{"decorrelated", policy.RetryPolicy{Jitter: policy.JitterDecorrelated, MaxDelay: 20 * s},
			func(policy.RetryPolicy, int) (time.Duration, time.Duration) { return 1 * s, 20 * s }},
		{"decorrelated base 0.1s", policy.RetryPolicy{Jitter: policy.JitterDecorrelated, BaseDelay: 100 * time.Millisecond, MaxDelay: s},
			func(policy.RetryPolicy, int) (time.Duration, time.Duration) { return 100 * time.Millisecond, s }},
		{"decorrelated cap below base", policy.RetryPolicy{Jitter: policy.JitterDecorrelated, BaseDelay: 60 * s, MaxDelay: 5 * s},
			func(policy.RetryPolicy, int) (time.Duration, time.Duration) { return 5 * s, 5 * s }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			distinct := map[time.Duration]bool{}
			for range draws / 10 {
				w := tt.p.NewWaits()
				for n := range 10 {
					got := w.Next()
					lo, hi := tt.bounds(tt.p, n)
					if got < lo || got > hi {
						t.Fatalf("wait %d = %v, want within [%v, %v]", n, got, lo, hi)
					}
					distinct[got] = true
				}
			}
			if tt.name != "decorrelated cap below base" && len(distinct) <= 100 {
				t.Errorf("%d draws gave %d distinct waits, want more than 100", draws, len(distinct))
			}
		})
	}
}

func TestWaitsDecorrelatedGrows(t *testing.T) {
	// Each wait is drawn from [base, 3·previous], so it never exceeds three
	// times the previous one.
	p := policy.RetryPolicy{Jitter: policy.JitterDecorrelated, MaxDelay: 300 * s}
	for range 100 {
		w := p.NewWaits()
		prev := p.BaseDelay + s
		for n := range 10 {
			got := w.Next()
			if got > 3*prev {
				t.Fatalf("wait %d = %v, above 3·previous (%v)", n, got, 3*prev)
			}
			prev = got
		}
	}
}

func TestNewBackoff(t *testing.T) {
	p := policy.RetryPolicy{MaxAttempts: 4, Backoff: policy.BackoffLinear, BaseDelay: 2 * s}
	b := p.NewBackoff()
	var got []time.Duration
	for {
		d, stop := b.Next()
		if stop {
			break
		}
		got = append(got, d)
	}
	if diff := cmp.Diff([]time.Duration{2 * s, 4 * s, 6 * s}, got); diff != "" {
		t.Errorf("waits mismatch (-want +got):\n%s", diff)
	}

	// Each call gets a fresh backoff.
	if d, _ := p.NewBackoff().Next(); d != 2*s {
		t.Errorf("fresh backoff's first wait = %v, want 2s", d)
	}

	// retry.Do makes at most MaxAttempts attempts.
	fast := policy.RetryPolicy{MaxAttempts: 3, BaseDelay: 100 * time.Millisecond, MaxDelay: s, Backoff: policy.BackoffFixed}
	attempts := 0
	errBoom := errors.New("boom")
	err := retry.Do(context.Background(), fast.NewBackoff(), func(context.Context) error {
		attempts++
		return retry.RetryableError(errBoom)
	})
	if !errors.Is(err, errBoom) || attempts != 3 {
		t.Errorf("retry.Do = %v after %d attempts, want boom after 3", err, attempts)
	}
}

func TestNewBackoffTimeout(t *testing.T) {
	p := policy.RetryPolicy{MaxAttempts: 10, BaseDelay: 10 * s, MaxDelay: 60 * s, Timeout: 5 * s}
	d, stop := p.NewBackoff().Next()
	if stop || d > 5*s || d <= 0 {
		t.Errorf("Next() = %v, %v, want a wait clipped to the 5s timeout", d, stop)
	}
}
