package policy

import (
	"cmp"
	"time"
)

// BreakerPolicy holds the rules by which a per-upstream circuit breaker trips
// and recovers. The zero BreakerPolicy means the defaults of DefaultBreaker;
// WithDefaults fills them in. A BreakerPolicy is a plain value, safe to copy
// and to share between goroutines.
type BreakerPolicy struct {
	// FailureThreshold is the number of failures within Window that opens the
	// breaker (default 5, 1–10,000).
	FailureThreshold int
	// Window is the rolling window failures are counted in, kept as fixed
	// buckets (default 60s, 1s–1h).
	Window time.Duration
	// FailureRate, when above zero, also opens the breaker once the share of
	// failed calls in Window reaches it and at least MinCalls were seen
	// (default 0: off; else 0 < rate ≤ 1).
	FailureRate float64
	// MinCalls is the number of calls in Window below which the rates are
	// not judged (default 20, 1–1,000,000).
	MinCalls int
	// SlowCall, when above zero, counts calls slower than it as slow
	// (default 0: off; never negative).
	SlowCall time.Duration
	// SlowCallRate, when above zero and SlowCall is set, opens the breaker
	// once the share of slow calls in Window reaches it (default 0: off;
	// else 0 < rate ≤ 1). Without SlowCall it has no effect.
	SlowCallRate float64
	// OpenTimeout is how long an open breaker rejects before a probe is
	// allowed (default 30s, 1s–1h).
	OpenTimeout time.Duration
	// OpenBackoff multiplies the open time on each consecutive trip without a
	// close in between (default 1: fixed; 1–10). Grown open times get ±10%
	// jitter; a fixed open time is exact.
	OpenBackoff float64
	// MaxOpenTimeout caps the grown open time (default 5m, ≥ OpenTimeout).
	MaxOpenTimeout time.Duration
	// HalfOpenProbes is the number of probe permits while half-open
	// (default 1, 1–100). One success closes, one failure re-opens.
	HalfOpenProbes int
	// ProbeLease is how long a probe permit may stay unsettled before it is
	// returned (default 10s, 1s–10m).
	ProbeLease time.Duration
	// ProbeGrace is how long past an open breaker's open time the other
	// nodes wait for the probe owner's result before any of them may probe
	// (default 5s; else 0 < grace ≤ 10m: zero means the default, so set a
	// small value such as 1ms for almost no grace).
	ProbeGrace time.Duration
	// FleetThreshold is the number of failures across the fleet within
	// Window that opens the breaker (default: FailureThreshold, after its
	// own default; 1–1,000,000).
	FleetThreshold int
	// MinReporters is the number of distinct nodes, this one included, whose
	// failures must make up FleetThreshold (default 1, 1–1,000).
	MinReporters int
	// MinFailureRate is the failure ratio the window must also reach,
	// beside FailureThreshold (or FleetThreshold), for the breaker to open:
	// volume alone never opens a breaker (default 0.5; 0 < rate ≤ 1; a
	// negative value, NoMinFailureRate, turns it off: the pure count rule).
	// Calls are counted from the window's first failure, so five failures
	// and nothing else still open a breaker. On the wire an explicit 0
	// means off.
	MinFailureRate float64
	// SpreadSites opens a proxy whose (proxy, site) pairs opened on at
	// least this many distinct sites within Window (default 3, 1–1,000).
	SpreadSites int
	// SpreadProxies and SiteFailureRate open a site that fails through at
	// least SpreadProxies distinct proxies within Window, at a failure
	// ratio of at least SiteFailureRate, with FailureThreshold failures
	// (defaults 5, 1–1,000, and 0.9, 0 < rate ≤ 1).
	SpreadProxies   int
	SiteFailureRate float64
}

// NoMinFailureRate is the MinFailureRate that turns the rate rule off.
const NoMinFailureRate = -1

// DefaultBreaker returns the breaker policy that the zero BreakerPolicy
// stands for.
func DefaultBreaker() BreakerPolicy {
	return BreakerPolicy{
		FailureThreshold: 5,
		Window:           60 * time.Second,
		MinCalls:         20,
		OpenTimeout:      30 * time.Second,
		OpenBackoff:      1,
		MaxOpenTimeout:   5 * time.Minute,
		HalfOpenProbes:   1,
		ProbeLease:       10 * time.Second,
		ProbeGrace:       5 * time.Second,
		FleetThreshold:   5,
		MinReporters:     1,
		MinFailureRate:   0.5,
		SpreadSites:      3,
		SpreadProxies:    5,
		SiteFailureRate:  0.9,
	}
}

// WithDefaults returns a copy of b whose zero fields hold the defaults of
// DefaultBreaker. A zero FleetThreshold becomes the (filled) FailureThreshold;
// FailureRate, SlowCall and SlowCallRate stay 0 (off).
func (b BreakerPolicy) WithDefaults() BreakerPolicy {
	d := DefaultBreaker()
	b.FailureThreshold = cmp.Or(b.FailureThreshold, d.FailureThreshold)
	b.Window = cmp.Or(b.Window, d.Window)
	b.MinCalls = cmp.Or(b.MinCalls, d.MinCalls)
	b.OpenTimeout = cmp.Or(b.OpenTimeout, d.OpenTimeout)
	b.OpenBackoff = cmp.Or(b.OpenBackoff, d.OpenBackoff)
	b.MaxOpenTimeout = cmp.Or(b.MaxOpenTimeout, d.MaxOpenTimeout)
	b.HalfOpenProbes = cmp.Or(b.HalfOpenProbes, d.HalfOpenProbes)
	b.ProbeLease = cmp.Or(b.ProbeLease, d.ProbeLease)
	b.ProbeGrace = cmp.Or(b.ProbeGrace, d.ProbeGrace)
	b.FleetThreshold = cmp.Or(b.FleetThreshold, b.FailureThreshold)
	b.MinReporters = cmp.Or(b.MinReporters, d.MinReporters)
	b.MinFailureRate = cmp.Or(b.MinFailureRate, d.MinFailureRate)
	b.SpreadSites = cmp.Or(b.SpreadSites, d.SpreadSites)
	b.SpreadProxies = cmp.Or(b.SpreadProxies, d.SpreadProxies)
	b.SiteFailureRate = cmp.Or(b.SiteFailureRate, d.SiteFailureRate)
	return b
}

// Validate checks b with its defaults filled in. The error names every field
// that is out of bounds and the bound it broke, one per line, for example
// "policy: breaker.window 500ms out of range 1s–1h".
func (b BreakerPolicy) Validate() error {
	var ps problems
	b.validate(&ps)
	return ps.err()
}

func (b BreakerPolicy) validate(ps *problems) { b.WithDefaults().check(ps) }

// check checks b as it is, without filling in defaults.
func (b BreakerPolicy) check(ps *problems) {
	ps.intIn("breaker.failure_threshold", b.FailureThreshold, 1, 10_000)
	ps.durIn("breaker.window", b.Window, time.Second, time.Hour, "1s–1h")
	ps.rate("breaker.failure_rate", b.FailureRate)
	ps.intIn("breaker.min_calls", b.MinCalls, 1, 1_000_000)
	if b.SlowCall < 0 {
		ps.addf("breaker.slow_call %v out of range 0 (off) or > 0", b.SlowCall)
	}
	ps.rate("breaker.slow_call_rate", b.SlowCallRate)
	ps.durIn("breaker.open_timeout", b.OpenTimeout, time.Second, time.Hour, "1s–1h")
	ps.floatIn("breaker.open_backoff", b.OpenBackoff, 1, 10)
	if b.MaxOpenTimeout < b.OpenTimeout {
		ps.addf("breaker.max_open_timeout %v below breaker.open_timeout %v", b.MaxOpenTimeout, b.OpenTimeout)
	}
	ps.intIn("breaker.half_open_probes", b.HalfOpenProbes, 1, 100)
	ps.durIn("breaker.probe_lease", b.ProbeLease, time.Second, 10*time.Minute, "1s–10m")
	ps.durIn("breaker.probe_grace", b.ProbeGrace, 1, 10*time.Minute, "(0, 10m]")
	ps.intIn("breaker.fleet_threshold", b.FleetThreshold, 1, 1_000_000)
	ps.intIn("breaker.min_reporters", b.MinReporters, 1, 1_000)
	if b.MinFailureRate != NoMinFailureRate {
		ps.rate("breaker.min_failure_rate", b.MinFailureRate)
	}
	ps.intIn("breaker.spread_sites", b.SpreadSites, 1, 1_000)
	ps.intIn("breaker.spread_proxies", b.SpreadProxies, 1, 1_000)
	ps.rate("breaker.site_failure_rate", b.SiteFailureRate)
}
