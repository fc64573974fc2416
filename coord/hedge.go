package coord

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/proxywhirl/retrycoord/state"
)

// hedgeLeg is one of the concurrent attempts of a hedged attempt.
type hedgeLeg struct {
	u      *Upstream
	cancel context.CancelFunc
	lost   atomic.Bool // another leg answered first
	hedge  bool        // sent as a hedge, not the attempt hedged
}

type legResult struct {
	a   attemptResult
	leg *hedgeLeg
}

// hedged makes attempt n through u like attempt, and when no answer has
// come after the hedge delay, sends the request again through another
// eligible upstream (never u, never one this request tried), charged to
// the site's retry budget, up to MaxHedges per request. The first success
// wins; the others are cancelled and settled as abandoned. When every leg
// failed, the last failure is the attempt's result. fn is called
// concurrently by the legs.
func (r *request) hedged(u *Upstream, tk *state.Scoped, n int, start time.Time) attemptResult {
	delay, ok := r.hedgeDelay(start)
	if !ok {
		return r.attempt(u, tk, n, start, r.rctx, nil)
	}
	maxHedges := min(r.rp.Hedge.WithDefaults().MaxHedges, len(r.hedgedTo))
	results := make(chan legResult, 1+len(r.hedgedTo))
	// The legs read a copy of the request (they never write to it), so
	// that r itself stays on the stack of requests that are not hedged.
	cp := new(request)
	*cp = *r
	var legs []*hedgeLeg
	launch := func(u *Upstream, tk *state.Scoped, start time.Time, hedge bool) {
		ctx, cancel := context.WithCancel(cp.rctx)
		l := &hedgeLeg{u: u, cancel: cancel, hedge: hedge}
		legs = append(legs, l)
		go func() {
			results <- legResult{a: cp.attempt(u, tk, n, start, ctx, &l.lost), leg: l}
		}()
	}
	launch(u, &cp.tk, start, false) // cp.tk holds tk's admission
	timer := time.NewTimer(delay)
	defer timer.Stop()
	pending := 1
	for {
		select {
		case <-timer.C:
			if r.res.Hedged >= maxHedges || r.ctx.Err() != nil {
				continue
			}
			if hu, htk := r.hedgeTo(n); hu != nil {
				r.hedgedTo[r.res.Hedged] = hu
				r.res.Hedged++
				r.c.budget.hedgesSent.Add(1)
				launch(hu, htk, r.c.now(), true)
				pending++
				if r.res.Hedged < maxHedges {
					timer.Reset(delay)
				}
			}
		case lr := <-results:
			pending--
			if lr.a.class != ClassSuccess && lr.a.class != ClassFatal && pending > 0 {
				discard(lr.a.resp) // another leg may still answer
				lr.leg.cancel()
				continue
			}
			for _, l := range legs {
				if l != lr.leg {
					l.lost.Store(true)
					l.cancel()
					if !l.hedge && lr.a.class == ClassSuccess {
						// The attempt hedged would have taken at least
						// this long: count it, or the site's quantile
						// would leave out the very tail hedges cut.
						now := r.c.now()
						r.c.tb.AddLatency(r.site, now.Sub(start), now)
					}
				}
			}
			if lr.a.class == ClassSuccess && lr.leg.hedge {
				r.c.budget.hedgesWon.Add(1)
			}
			if lr.leg.hedge {
				r.res.Upstream = lr.leg.u
			}
			// The answer's body outlives the leg: cancel its context on Close.
			if lr.a.resp != nil && lr.a.resp.Body != nil {
				lr.a.resp.Body = &cancelBody{ReadCloser: lr.a.resp.Body, cancel: lr.leg.cancel}
			} else {
				lr.leg.cancel()
			}
			return lr.a
		}
	}
}

// hedgeTo chooses and admits the upstream of a hedge of attempt n, charged
// to the site's retry budget; nil when none is eligible or the budget is
// spent.
func (r *request) hedgeTo(n int) (*Upstream, *state.Scoped) {
	now := r.c.now()
	tk := new(state.Scoped)
	u, _ := r.acquireSkip(tk, n+1, now) // prefers upstreams not tried, the hedged one included
	if u != nil && r.used(u, n) {
		r.c.tb.SettleScoped(tk, state.OutcomeAbandoned, 0, 0) // selection fell back on one in use
		u = nil
	}
	if u == nil {
		r.c.budget.hedgesNone.Add(1)
		return nil, nil
	}
	if !r.rp.Budget.Off && !r.c.tb.ChargeRetry(r.site, r.rp.Budget, now) {
		r.c.tb.SettleScoped(tk, state.OutcomeAbandoned, 0, 0)
		r.c.budget.hedgesNo.Add(1)
		return nil, nil
	}
	return u, tk
}

// used reports whether u served one of the first n attempts or a hedge.
func (r *request) used(u *Upstream, n int) bool {
	for _, t := range r.tried[:n] {
		if t == u {
			return true
		}
	}
	for _, t := range r.hedgedTo[:r.res.Hedged] {
		if t == u {
			return true
		}
	}
	return false
}
