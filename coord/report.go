package coord

import (
	"context"
	"fmt"
	"time"

	"github.com/proxywhirl/retrycoord/state"
)

// Select returns the upstream a request with ctx's settings (WithRegion)
// would be sent through now, for thin clients that call the proxy
// themselves and Report the outcome. It is read-only: it takes no breaker
// permit. It returns ErrNoUpstream when nothing is eligible.
func (c *Coordinator) Select(ctx context.Context) (*Upstream, error) {
	cd := c.pol.Load()
	region := ""
	if o := optsFrom(ctx); o != nil {
		region = o.region
	}
	u := c.sel.pick(c.pool.load().list, &cd.sel, region, nil, c.now().UnixNano())
	if u == nil {
		return nil, ErrNoUpstream
	}
	return u, nil
}

// Report records the outcome of an attempt that a thin client made through
// the upstream with the given key: it feeds the breaker (ClassSuccess as a
// success, ClassFailure and ClassBan as failures, others as nothing), the
// upstream's selection statistics and the Recorder, as one attempt of a new
// request. An unknown key is an error; so is an open breaker
// (state.ErrOpen), in which case only the Recorder counts the attempt.
func (c *Coordinator) Report(key string, class Class, status int, latency time.Duration) error {
	u := c.Upstream(key)
	if u == nil {
		return fmt.Errorf("coord: unknown upstream %q", key)
	}
	tk, err := c.tb.Admit(key)
	outcome := state.OutcomeAbandoned
	switch class {
	case ClassSuccess:
		outcome = state.OutcomeSuccess
		u.stats.record(true, latency, c.pol.Load().sel.Window)
	case ClassFailure, ClassBan:
		outcome = state.OutcomeFailure
		u.stats.record(false, latency, c.pol.Load().sel.Window)
	}
	if err == nil {
		c.tb.Settle(tk, outcome, latency)
	}
	reason := ReasonNone
	switch class {
	case ClassFailure:
		reason = ReasonStatus
		if status == 0 {
			reason = ReasonConnect
		}
	case ClassBan:
		reason = ReasonBan
	case ClassFatal:
		reason = ReasonFatal
	case ClassAbandoned:
		reason = ReasonCanceled
	}
	c.rec.add(&Attempt{Time: c.now(), RequestID: c.reqID.Add(1), Attempt: 1, Upstream: key,
		Class: class, Reason: reason, Status: status, Latency: latency})
	if err != nil {
		return fmt.Errorf("coord: report for %s: %w", key, err)
	}
	return nil
}
