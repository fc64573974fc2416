package coord

import (
	"sync/atomic"
	"time"

	"github.com/proxywhirl/retrycoord/state"
)

// HeaderBudget is set to "exhausted" on an answer returned because the
// site's retry budget refused a retry (see policy.RetryBudget).
const HeaderBudget = "X-Retrycoord-Budget"

// budgetCounters count what the retry budget and hedging did.
type budgetCounters struct {
	exhausted  atomic.Uint64 // retries the budget refused
	hedgesSent atomic.Uint64
	hedgesWon  atomic.Uint64 // hedges that answered first
	hedgesNo   atomic.Uint64 // hedges not sent: the budget was spent
	hedgesNone atomic.Uint64 // hedges not sent: no other eligible upstream
}

// BudgetStats are the coordinator's retry budget and hedging counters
// since it was created.
type BudgetStats struct {
	Exhausted     uint64 // retries refused by a site's retry budget
	HedgesSent    uint64 // hedges sent
	HedgesWon     uint64 // hedges that answered before the attempt they hedged
	HedgesRefused uint64 // hedges not sent because the budget was spent
	HedgesNoProxy uint64 // hedges not sent because no other upstream was eligible
}

// BudgetStats returns the retry budget and hedging counters.
func (c *Coordinator) BudgetStats() BudgetStats {
	return BudgetStats{
		Exhausted:     c.budget.exhausted.Load(),
		HedgesSent:    c.budget.hedgesSent.Load(),
		HedgesWon:     c.budget.hedgesWon.Load(),
		HedgesRefused: c.budget.hedgesNo.Load(),
		HedgesNoProxy: c.budget.hedgesNone.Load(),
	}
}

// SiteBudget is one site's retry budget as this node sees it.
type SiteBudget struct {
	Site string
	state.BudgetStatus
}

// SiteBudgets returns the retry budget of every site this node has counts
// for, under the coordinator's retry policy, sorted by site.
func (c *Coordinator) SiteBudgets() []SiteBudget {
	b := c.pol.Load().retry.Budget
	now := c.now()
	sites := c.tb.BudgetSites()
	out := make([]SiteBudget, 0, len(sites))
	for _, s := range sites {
		out = append(out, SiteBudget{Site: s, BudgetStatus: c.tb.BudgetStatus(s, b, now)})
	}
	return out
}

// chargeRetry asks the site's budget for the next attempt after a failure
// that landed on blame. A failover after a proxy-level fault is free: the
// site never saw the attempt.
func (r *request) chargeRetry(blame state.Level) bool {
	if r.site == "" || r.rp.Budget.Off || blame == state.LevelProxy {
		return true
	}
	if r.c.tb.ChargeRetry(r.site, r.rp.Budget, r.c.now()) {
		return true
	}
	r.c.budget.exhausted.Add(1)
	return false
}

// exhausted ends a request whose retry the budget refused: the last answer
// when there is one, else a *GiveUpError with BudgetExhausted.
func (r *request) exhausted(a attemptResult, status int) (Result, error) {
	r.res.BudgetExhausted = true
	if a.resp != nil {
		r.res.Response = a.resp
		return r.res, nil
	}
	return r.res, &GiveUpError{Attempts: r.res.Attempts, Upstream: r.res.Upstream.Key(), Status: status,
		Last: a.err, BudgetExhausted: true}
}

// hedgeDelay is how long an attempt runs before it is hedged: the fixed
// Delay, else the site's fleet-merged latency at Quantile; false when
// there are too few answers to know it.
func (r *request) hedgeDelay(now time.Time) (time.Duration, bool) {
	h := r.rp.Hedge.WithDefaults()
	if h.Delay > 0 {
		return h.Delay, true
	}
	return r.c.tb.LatencyQuantile(r.site, h.Quantile, minHedgeSamples, now)
}

// minHedgeSamples is how many answers a site's latency needs before it
// times hedges.
const minHedgeSamples = 20
