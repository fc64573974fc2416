package policy

import (
	"time"

	"github.com/sethvargo/go-retry"
)

// The backoff of one request, as a coordinator runs it: an engine (any
// go-retry Backoff; DefaultBackoff is ours) decorated with the rules that
// belong to the request rather than to the engine — the server's
// Retry-After, the cap MaxDelay and the clip to the request's Timeout. Each
// decorator is a go-retry Backoff wrapping another, in the style of
// retry.WithMaxRetries, and, like every Backoff, belongs to one request.

// DefaultBackoff returns the waits of p.NewWaits as a go-retry Backoff that
// never stops by itself (the coordinator counts attempts against
// MaxAttempts). It is the coordinator's default engine.
func DefaultBackoff(p RetryPolicy) retry.Backoff {
	return &waitsBackoff{p.NewWaits()}
}

// waitsBackoff is Waits as a go-retry Backoff.
type waitsBackoff struct{ w Waits }

func (b *waitsBackoff) Next() (time.Duration, bool) { return b.w.Next(), false }

// RetryAfter is a Backoff decorator that honours a server's Retry-After:
// the wait after an answer that carried one is at least that long. It is
// not capped here: WithRequestRules caps every wait, Retry-After included,
// at MaxDelay. A RetryAfter is not safe for concurrent use.
type RetryAfter struct {
	next retry.Backoff
	hint time.Duration
}

// WithRetryAfter returns a RetryAfter over next.
func WithRetryAfter(next retry.Backoff) *RetryAfter { return &RetryAfter{next: next} }

// Hint sets the Retry-After of the latest answer (0: none). It applies to
// the next wait only.
func (r *RetryAfter) Hint(d time.Duration) { r.hint = d }

// Next returns next's wait, raised to the hint; it stops when next stops.
func (r *RetryAfter) Next() (time.Duration, bool) {
	d, stop := r.next.Next()
	hint := r.hint
	r.hint = 0
	if stop {
		return 0, true
	}
	return max(d, hint), false
}

// WithDeadline returns a Backoff that stops once next's wait would reach
// deadline (wall time, read with time.Now): no attempt starts past it, and
// a request does not sleep only to give up. A zero deadline returns next
// unchanged.
func WithDeadline(deadline time.Time, next retry.Backoff) retry.Backoff {
	if deadline.IsZero() {
		return next
	}
	return retry.BackoffFunc(func() (time.Duration, bool) {
		d, stop := next.Next()
		if stop || d >= time.Until(deadline) {
			return 0, true
		}
		return d, false
	})
}

// WithRequestRules decorates engine with the rules of p that belong to one
// request: the Retry-After hint (unless IgnoreRetryAfter; the returned
// *RetryAfter is then nil), the cap MaxDelay on every wait, Retry-After
// included (retry.WithCappedDuration), and the clip to deadline (the
// request's Timeout; zero for none). p's defaults are filled in.
func (p RetryPolicy) WithRequestRules(engine retry.Backoff, deadline time.Time) (retry.Backoff, *RetryAfter) {
	p = p.filled()
	b := engine
	var ra *RetryAfter
	if !p.IgnoreRetryAfter {
		ra = WithRetryAfter(b)
		b = ra
	}
	b = retry.WithCappedDuration(max(p.MaxDelay, 0), b)
	return WithDeadline(deadline, b), ra
}
