package policy

import (
	"cmp"
	"math"
)

// Strategy names how an upstream is chosen among the eligible ones. The zero
// value is unset and means the default, StrategyP2C. Values are append-only:
// they are stored and sent as names, but never renumber them.
type Strategy uint8

const (
	StrategyDefault    Strategy = iota // unset: p2c
	StrategyP2C                        // power of two choices by score
	StrategyBest                       // the highest score
	StrategyRoundRobin                 // in turn
	StrategyRandom                     // uniformly at random
)

// SelectPolicy tunes upstream selection. An upstream's score is
// SuccessWeight·success_rate + LatencyWeight·(1 − latency/max_latency) over
// its last Window outcomes, multiplied by RegionBonus (capped at 1) when its
// region matches the request's. The zero SelectPolicy means the defaults of
// DefaultSelect; WithDefaults fills them in. A SelectPolicy is a plain
// value, safe to copy and to share between goroutines.
type SelectPolicy struct {
	Strategy      Strategy // default p2c
	SuccessWeight float64  // default 0.7 (when both weights are 0), 0–1
	LatencyWeight float64  // default 0.3 (when both weights are 0), 0–1; the two weights sum to 1 (±1e-9)
	RegionBonus   float64  // score factor for a matching region (default 1.1, 1–2)
	Window        int      // outcomes remembered per upstream (default 100, 1–10,000)
}

// DefaultSelect returns the selection policy that the zero SelectPolicy
// stands for.
func DefaultSelect() SelectPolicy {
	return SelectPolicy{
		Strategy:      StrategyP2C,
		SuccessWeight: 0.7,
		LatencyWeight: 0.3,
		RegionBonus:   1.1,
		Window:        100,
	}
}

// WithDefaults returns a copy of s whose zero fields hold the defaults of
// DefaultSelect. The weights are filled only when both are zero (0.7 and
// 0.3); a single set weight is kept as is, so {SuccessWeight: 1} scores by
// success rate alone.
func (s SelectPolicy) WithDefaults() SelectPolicy {
	d := DefaultSelect()
	s.Strategy = cmp.Or(s.Strategy, d.Strategy)
	if s.SuccessWeight == 0 && s.LatencyWeight == 0 {
		s.SuccessWeight, s.LatencyWeight = d.SuccessWeight, d.LatencyWeight
	}
	s.RegionBonus = cmp.Or(s.RegionBonus, d.RegionBonus)
	s.Window = cmp.Or(s.Window, d.Window)
	return s
}

// Validate checks s with its defaults filled in. The error names every field
// that is out of bounds and the bound it broke, one per line, for example
// "policy: select.region_bonus 3 out of range 1–2".
func (s SelectPolicy) Validate() error {
	var ps problems
	s.validate(&ps)
	return ps.err()
}

func (s SelectPolicy) validate(ps *problems) { s.WithDefaults().check(ps) }

// check checks s as it is, without filling in defaults.
func (s SelectPolicy) check(ps *problems) {
	enumIn(ps, "select.strategy", strategyNames, s.Strategy)
	ps.floatIn("select.success_weight", s.SuccessWeight, 0, 1)
	ps.floatIn("select.latency_weight", s.LatencyWeight, 0, 1)
	if sum := s.SuccessWeight + s.LatencyWeight; !(math.Abs(sum-1) <= 1e-9) {
		ps.addf("select.success_weight + select.latency_weight = %v, want 1 (±1e-9)", sum)
	}
	ps.floatIn("select.region_bonus", s.RegionBonus, 1, 2)
	ps.intIn("select.window", s.Window, 1, 10_000)
}
