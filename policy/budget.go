package policy

import (
	"cmp"
	"time"
)

// RetryBudget bounds retries per site across the whole fleet: over a
// rolling Window, retries for a site may be at most Ratio of the fleet's
// first attempts for that site, plus a floor of MinPerSecond for the whole
// fleet (each node takes its share by the number of members it knows of).
// A failover after a proxy-level fault is not a retry for the budget: the
// site never saw the attempt. The zero RetryBudget means the defaults: on,
// 0.2 of first attempts plus 10 retries per second, over 10 s.
//
// For comparison, Finagle and Linkerd budget 20% plus 10 retries/s, the SRE
// book 10%, gRPC throttles at a token ratio; all of them count per process.
type RetryBudget struct {
	// Ratio is the share of first attempts that may be retried (default
	// 0.2, 0.01–1).
	Ratio float64
	// MinPerSecond is the fleet's floor of retries per second and site,
	// shared by the members (default 10, 0.1–10000).
	MinPerSecond float64
	// Window is the rolling window the counts are kept over (default 10s,
	// 1s–60s), in one-second buckets.
	Window time.Duration
	// Off turns the budget off: every retry the policy allows is made.
	Off bool
	// Local keeps the budget per node, on this node's counts alone and with
	// the whole floor, as per-process budgets do (for comparison).
	Local bool
}

// DefaultBudget returns the budget that the zero RetryBudget stands for.
func DefaultBudget() RetryBudget {
	return RetryBudget{Ratio: 0.2, MinPerSecond: 10, Window: 10 * time.Second}
}

// WithDefaults returns b with its zero fields set to DefaultBudget's.
func (b RetryBudget) WithDefaults() RetryBudget {
	d := DefaultBudget()
	b.Ratio = cmp.Or(b.Ratio, d.Ratio)
	b.MinPerSecond = cmp.Or(b.MinPerSecond, d.MinPerSecond)
	b.Window = cmp.Or(b.Window, d.Window)
	return b
}

func (b RetryBudget) check(ps *problems) {
	b = b.WithDefaults()
	ps.floatIn("retry.budget_ratio", b.Ratio, 0.01, 1)
	ps.floatIn("retry.budget_min_per_second", b.MinPerSecond, 0.1, 10000)
	ps.durIn("retry.budget_window", b.Window, time.Second, time.Minute, "1s–60s")
}

// Hedge sends one more attempt through another proxy when a request's
// answer is late: after Delay, or by default after the site's fleet-wide
// latency at Quantile. The first answer wins; the other attempt is
// cancelled and settled as abandoned. Hedges are charged to the retry
// budget and stop when it is spent; non-idempotent requests are never
// hedged. The zero Hedge is off.
type Hedge struct {
	// On turns hedging on (default off).
	On bool
	// Delay is a fixed wait before a hedge (default 0: the site's
	// fleet-merged latency at Quantile; else 1ms–60s).
	Delay time.Duration
	// Quantile is the latency quantile that times a hedge when Delay is 0
	// (default 0.95, 0.5–0.999).
	Quantile float64
	// MaxHedges is the most hedges per request (default 1, 1–3).
	MaxHedges int
}

// WithDefaults returns h with its zero fields set to their defaults.
func (h Hedge) WithDefaults() Hedge {
	h.Quantile = cmp.Or(h.Quantile, 0.95)
	h.MaxHedges = cmp.Or(h.MaxHedges, 1)
	return h
}

func (h Hedge) check(ps *problems) {
	h = h.WithDefaults()
	if h.Delay != 0 {
		ps.durIn("retry.hedge_delay", h.Delay, time.Millisecond, 60*time.Second, "0 (the site's latency) or 1ms–60s")
	}
	ps.floatIn("retry.hedge_quantile", h.Quantile, 0.5, 0.999)
	ps.intIn("retry.max_hedges", h.MaxHedges, 1, 3)
}
