package coord

import (
	"context"
	"fmt"
	"log/slog"
)

// upstreamSet is a small set of upstreams, for one request.
type upstreamSet struct {
	list [maxAttempts]*Upstream
	n    int
}

func (s *upstreamSet) add(u *Upstream) {
	if s.n < len(s.list) && !s.has(u) {
		s.list[s.n] = u
		s.n++
	}
}

func (s *upstreamSet) has(u *Upstream) bool {
	for _, v := range s.list[:s.n] {
		if v == u {
			return true
		}
	}
	return false
}

// noUpstream is the error when nothing is eligible before attempt n: the
// bare ErrNoUpstream before the first, else ErrNoUpstream wrapping the last
// attempt's error (the last eligible upstream opened while the request
// waited). Either way errors.Is(err, ErrNoUpstream) holds: the answer is
// "no upstream" (503 at the agent), not "gave up" (502).
func noUpstream(n int, last error) error {
	if n == 1 || last == nil {
		return ErrNoUpstream
	}
	return fmt.Errorf("%w after %d attempt%s (the last eligible breaker opened): %w", ErrNoUpstream, n-1, plural(n-1), last)
}

// logFailed logs a failed attempt at Debug with its class, reason, status
// and redacted error.
func (c *Coordinator) logFailed(ctx context.Context, a *Attempt) {
	if !c.logger.Enabled(ctx, slog.LevelDebug) {
		return
	}
	c.logger.LogAttrs(ctx, slog.LevelDebug, "attempt failed",
		slog.String("upstream", a.Upstream), slog.Int("attempt", a.Attempt),
		slog.String("class", a.Class.String()), slog.String("reason", a.Reason.String()),
		slog.Int("status", a.Status), slog.String("err", a.Err))
}

// mayRetry reports whether a request with method may be retried once sent,
// under the retry policy in force for ctx (WithRetryPolicy, WithMethod).
func (c *Coordinator) mayRetry(ctx context.Context, method string) bool {
	rp := &c.pol.Load().retry
	if o := optsFrom(ctx); o != nil && o.retry != nil {
		rp = o.retry
	}
	return rp.MayRetry(method)
}
