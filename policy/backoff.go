package policy

import (
	"math"
	"math/rand/v2"
	"time"

	"github.com/sethvargo/go-retry"
)

// Waits yields the waits between the attempts of one call, one per Next,
// following a RetryPolicy's Backoff, Jitter, BaseDelay, Multiplier and
// MaxDelay. It is stateful (decorrelated jitter grows from the previous
// wait), so take a fresh one per call with RetryPolicy.NewWaits. It never
// stops by itself: the caller counts attempts against MaxAttempts, clips the
// wait to what is left of Timeout and applies Retry-After. This is what
// coordinators should use. A Waits is not safe for concurrent use.
//
// The zero Waits yields 0 forever.
type Waits struct {
	backoff Backoff
	jitter  Jitter
	base    time.Duration
	cap     time.Duration
	mult    float64
	n       int           // waits yielded so far
	prev    time.Duration // the previous wait, for decorrelated jitter
}

// NewWaits returns a fresh Waits for one call under p (defaults filled in).
// It does not allocate. p should be valid (see Validate); out-of-range
// values are not rejected here, but no wait is ever negative or above
// MaxDelay.
func (p RetryPolicy) NewWaits() Waits {
	p = p.filled()
	return Waits{
		backoff: p.Backoff,
		jitter:  p.Jitter,
		base:    max(p.BaseDelay, 0),
		cap:     max(p.MaxDelay, 0),
		mult:    p.Multiplier,
	}
}

// Next returns the wait before the next attempt: the first call returns the
// wait between the first and the second attempt.
//
// Without jitter the n-th wait (from 0) is Delay(n). Full jitter draws it
// uniformly from [0, Delay(n)], equal jitter from [Delay(n)/2, Delay(n)].
// Decorrelated jitter ignores Backoff and Multiplier: each wait is drawn
// from [BaseDelay, 3·previous] (the first previous being BaseDelay) and
// capped at MaxDelay, so it stays within [BaseDelay, MaxDelay]; if
// 3·previous is below BaseDelay (a MaxDelay below BaseDelay/3) the bounds
// are swapped.
func (w *Waits) Next() time.Duration {
	var d time.Duration
	switch w.jitter {
	case JitterFull:
		d = uniform(0, delay(w.backoff, w.base, w.mult, w.cap, w.n))
	case JitterEqual:
		c := delay(w.backoff, w.base, w.mult, w.cap, w.n)
		d = uniform(c/2, c)
	case JitterDecorrelated:
		prev := w.prev
		if w.n == 0 {
			prev = w.base
		}
		lo, hi := w.base, 3*min(prev, w.cap, time.Duration(math.MaxInt64/3))
		if hi < lo {
			lo, hi = hi, lo
		}
		d = min(uniform(lo, hi), w.cap)
	default:
		d = delay(w.backoff, w.base, w.mult, w.cap, w.n)
	}
	w.n++
	w.prev = d
	return d
}

// Delay returns the n-th wait (from 0: the wait before the second attempt)
// of p without jitter, capped at MaxDelay: BaseDelay·Multiplier^n for
// exponential backoff, BaseDelay·(n+1) for linear, BaseDelay for fixed.
// With the defaults that is 1s, 2s, 4s, 8s, 16s, 30s, 30s, …
func (p RetryPolicy) Delay(n int) time.Duration {
	p = p.filled()
	return delay(p.Backoff, max(p.BaseDelay, 0), p.Multiplier, max(p.MaxDelay, 0), n)
}

func delay(b Backoff, base time.Duration, mult float64, cap time.Duration, n int) time.Duration {
	n = max(n, 0)
	f := float64(base)
	switch b {
	case BackoffLinear:
		f *= float64(n) + 1
	case BackoffFixed:
	default:
		f *= math.Pow(mult, float64(n))
	}
	if !(f < float64(cap)) { // also NaN and +Inf
		return cap
	}
	return max(time.Duration(math.Round(f)), 0)
}

// uniform returns a duration drawn uniformly from [lo, hi], both included.
// math/rand/v2's top-level functions are safe for concurrent use.
func uniform(lo, hi time.Duration) time.Duration {
	if hi <= lo {
		return lo
	}
	span := uint64(hi - lo)
	if span < math.MaxUint64 {
		span++
	}
	return lo + time.Duration(rand.Uint64N(span))
}

// NewBackoff returns a fresh go-retry Backoff for one call under p, for
// callers that drive retries with retry.Do. Its waits are those of NewWaits;
// it stops after MaxAttempts−1 waits, so retry.Do makes at most MaxAttempts
// attempts, and, when Timeout is set, it clips each wait to what is left of
// Timeout counted from this call, and stops once none is left. It does not
// apply Retry-After, status or method rules: callers that need those use
// NewWaits. Backoffs are stateful: never share one between calls.
func (p RetryPolicy) NewBackoff() retry.Backoff {
	p = p.filled()
	w := p.NewWaits()
	var b retry.Backoff = retry.BackoffFunc(func() (time.Duration, bool) {
		return w.Next(), false
	})
	b = retry.WithMaxRetries(uint64(max(p.MaxAttempts-1, 0)), b)
	if p.Timeout > 0 {
		b = retry.WithMaxDuration(p.Timeout, b)
	}
	return b
}
