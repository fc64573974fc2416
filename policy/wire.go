package policy

import (
	"fmt"
	"reflect"
	"strings"
	"time"
)

// The wire forms below are what JSON and YAML see: snake_case keys, enums as
// names, durations as strings ("1.5s", parsed by time.ParseDuration and
// written by time.Duration.String). A zero field is omitted and reads back
// as zero, which means the default, so a document round-trips exactly. They
// have no methods of their own, so a strict decoder stays strict all the way
// down.

// durationText is a duration on the wire: "" (zero) or a time.ParseDuration
// string. It is a named type so that decode errors can say what they want.
type durationText string

type retryWire struct {
	MaxAttempts        int          `json:"max_attempts,omitempty" yaml:"max_attempts,omitempty"`
	Backoff            string       `json:"backoff,omitempty" yaml:"backoff,omitempty"`
	BaseDelay          durationText `json:"base_delay,omitempty" yaml:"base_delay,omitempty"`
	Multiplier         float64      `json:"multiplier,omitempty" yaml:"multiplier,omitempty"`
	MaxDelay           durationText `json:"max_delay,omitempty" yaml:"max_delay,omitempty"`
	Jitter             string       `json:"jitter,omitempty" yaml:"jitter,omitempty"`
	RetryStatus        *[]int       `json:"retry_status,omitempty" yaml:"retry_status,omitempty"` // nil: default; &[]int{}: none
	Timeout            durationText `json:"timeout,omitempty" yaml:"timeout,omitempty"`
	AttemptTimeout     durationText `json:"attempt_timeout,omitempty" yaml:"attempt_timeout,omitempty"`
	RetryNonIdempotent bool         `json:"retry_non_idempotent,omitempty" yaml:"retry_non_idempotent,omitempty"`
	IgnoreRetryAfter   bool         `json:"ignore_retry_after,omitempty" yaml:"ignore_retry_after,omitempty"`
	BudgetRatio        float64      `json:"budget_ratio,omitempty" yaml:"budget_ratio,omitempty"`
	BudgetMinPerSecond float64      `json:"budget_min_per_second,omitempty" yaml:"budget_min_per_second,omitempty"`
	BudgetWindow       durationText `json:"budget_window,omitempty" yaml:"budget_window,omitempty"`
	BudgetOff          bool         `json:"budget_off,omitempty" yaml:"budget_off,omitempty"`
	BudgetLocal        bool         `json:"budget_local,omitempty" yaml:"budget_local,omitempty"`
	Hedge              bool         `json:"hedge,omitempty" yaml:"hedge,omitempty"`
	HedgeDelay         durationText `json:"hedge_delay,omitempty" yaml:"hedge_delay,omitempty"`
	HedgeQuantile      float64      `json:"hedge_quantile,omitempty" yaml:"hedge_quantile,omitempty"`
	MaxHedges          int          `json:"max_hedges,omitempty" yaml:"max_hedges,omitempty"`
}

type breakerWire struct {
	FailureThreshold int          `json:"failure_threshold,omitempty" yaml:"failure_threshold,omitempty"`
	Window           durationText `json:"window,omitempty" yaml:"window,omitempty"`
	FailureRate      float64      `json:"failure_rate,omitempty" yaml:"failure_rate,omitempty"`
	MinCalls         int          `json:"min_calls,omitempty" yaml:"min_calls,omitempty"`
	SlowCall         durationText `json:"slow_call,omitempty" yaml:"slow_call,omitempty"`
	SlowCallRate     float64      `json:"slow_call_rate,omitempty" yaml:"slow_call_rate,omitempty"`
	OpenTimeout      durationText `json:"open_timeout,omitempty" yaml:"open_timeout,omitempty"`
	OpenBackoff      float64      `json:"open_backoff,omitempty" yaml:"open_backoff,omitempty"`
	MaxOpenTimeout   durationText `json:"max_open_timeout,omitempty" yaml:"max_open_timeout,omitempty"`
	HalfOpenProbes   int          `json:"half_open_probes,omitempty" yaml:"half_open_probes,omitempty"`
	ProbeLease       durationText `json:"probe_lease,omitempty" yaml:"probe_lease,omitempty"`
	ProbeGrace       durationText `json:"probe_grace,omitempty" yaml:"probe_grace,omitempty"`
	FleetThreshold   int          `json:"fleet_threshold,omitempty" yaml:"fleet_threshold,omitempty"`
	MinReporters     int          `json:"min_reporters,omitempty" yaml:"min_reporters,omitempty"`
	// MinFailureRate: nil is the default; an explicit 0 turns the rule off.
	MinFailureRate  *float64 `json:"min_failure_rate,omitempty" yaml:"min_failure_rate,omitempty"`
	SpreadSites     int      `json:"spread_sites,omitempty" yaml:"spread_sites,omitempty"`
	SpreadProxies   int      `json:"spread_proxies,omitempty" yaml:"spread_proxies,omitempty"`
	SiteFailureRate float64  `json:"site_failure_rate,omitempty" yaml:"site_failure_rate,omitempty"`
}

type selectWire struct {
	Strategy      string  `json:"strategy,omitempty" yaml:"strategy,omitempty"`
	SuccessWeight float64 `json:"success_weight,omitempty" yaml:"success_weight,omitempty"`
	LatencyWeight float64 `json:"latency_weight,omitempty" yaml:"latency_weight,omitempty"`
	RegionBonus   float64 `json:"region_bonus,omitempty" yaml:"region_bonus,omitempty"`
	Window        int     `json:"window,omitempty" yaml:"window,omitempty"`
}

type documentWire struct {
	Version int          `json:"version" yaml:"version"`
	Retry   *retryWire   `json:"retry,omitempty" yaml:"retry,omitempty"`
	Breaker *breakerWire `json:"breaker,omitempty" yaml:"breaker,omitempty"`
	Select  *selectWire  `json:"select,omitempty" yaml:"select,omitempty"`
}

// Keys of each wire form, in declaration order, for unknown-field errors.
var (
	retryKeys    = wireKeys[retryWire]()
	breakerKeys  = wireKeys[breakerWire]()
	selectKeys   = wireKeys[selectWire]()
	documentKeys = wireKeys[documentWire]()
)

// intKeys holds the fields ("retry.max_attempts") whose values are
// integers or lists of them: yaml.v3 would silently truncate 2.5 into 2.
var intKeys = map[string]bool{"version": true}

func init() {
	sections := map[string]reflect.Type{
		"retry":   reflect.TypeFor[retryWire](),
		"breaker": reflect.TypeFor[breakerWire](),
		"select":  reflect.TypeFor[selectWire](),
	}
	for section, t := range sections {
		for i := range t.NumField() {
			f := t.Field(i)
			if f.Type.Kind() == reflect.Int || f.Type == reflect.TypeFor[*[]int]() {
				k, _, _ := strings.Cut(f.Tag.Get("json"), ",")
				intKeys[section+"."+k] = true
			}
		}
	}
}

func wireKeys[T any]() []string {
	t := reflect.TypeFor[T]()
	keys := make([]string, t.NumField())
	for i := range keys {
		keys[i], _, _ = strings.Cut(t.Field(i).Tag.Get("json"), ",")
	}
	return keys
}

func fmtDuration(d time.Duration) durationText {
	if d == 0 {
		return ""
	}
	return durationText(d.String())
}

// wireDecoder converts wire fields to policy fields, collecting errors that
// name the field ("retry.base_delay").
type wireDecoder struct {
	section string
	ps      problems
}

func (w *wireDecoder) duration(key string, s durationText) time.Duration {
	if s == "" {
		return 0
	}
	d, err := time.ParseDuration(string(s))
	if err != nil {
		w.ps.addf("%s.%s: invalid duration %q (want a duration such as \"1.5s\")", w.section, key, string(s))
	}
	return d
}

func wireEnum[E enum](w *wireDecoder, key string, names []string, s string) E {
	v, err := parseEnum[E](key, names, s)
	if err != nil {
		w.ps.addf("%s.%s: %v", w.section, key, err)
	}
	return v
}

func (p RetryPolicy) wire() (retryWire, error) {
	var ps problems
	enumIn(&ps, "retry.backoff", backoffNames, p.Backoff)
	enumIn(&ps, "retry.jitter", jitterNames, p.Jitter)
	if err := ps.err(); err != nil {
		return retryWire{}, err
	}
	w := retryWire{
		MaxAttempts:        p.MaxAttempts,
		Backoff:            backoffNames[p.Backoff],
		BaseDelay:          fmtDuration(p.BaseDelay),
		Multiplier:         p.Multiplier,
		MaxDelay:           fmtDuration(p.MaxDelay),
		Jitter:             jitterNames[p.Jitter],
		Timeout:            fmtDuration(p.Timeout),
		AttemptTimeout:     fmtDuration(p.AttemptTimeout),
		RetryNonIdempotent: p.RetryNonIdempotent,
		IgnoreRetryAfter:   p.IgnoreRetryAfter,
		BudgetRatio:        p.Budget.Ratio,
		BudgetMinPerSecond: p.Budget.MinPerSecond,
		BudgetWindow:       fmtDuration(p.Budget.Window),
		BudgetOff:          p.Budget.Off,
		BudgetLocal:        p.Budget.Local,
		Hedge:              p.Hedge.On,
		HedgeDelay:         fmtDuration(p.Hedge.Delay),
		HedgeQuantile:      p.Hedge.Quantile,
		MaxHedges:          p.Hedge.MaxHedges,
	}
	if p.RetryStatus != nil {
		w.RetryStatus = &p.RetryStatus
	}
	return w, nil
}

func (w retryWire) policy() (RetryPolicy, error) {
	d := wireDecoder{section: "retry"}
	p := RetryPolicy{
		MaxAttempts:        w.MaxAttempts,
		Backoff:            wireEnum[Backoff](&d, "backoff", backoffNames, w.Backoff),
		BaseDelay:          d.duration("base_delay", w.BaseDelay),
		Multiplier:         w.Multiplier,
		MaxDelay:           d.duration("max_delay", w.MaxDelay),
		Jitter:             wireEnum[Jitter](&d, "jitter", jitterNames, w.Jitter),
		Timeout:            d.duration("timeout", w.Timeout),
		AttemptTimeout:     d.duration("attempt_timeout", w.AttemptTimeout),
		RetryNonIdempotent: w.RetryNonIdempotent,
		IgnoreRetryAfter:   w.IgnoreRetryAfter,
		Budget: RetryBudget{Ratio: w.BudgetRatio, MinPerSecond: w.BudgetMinPerSecond,
			Window: d.duration("budget_window", w.BudgetWindow), Off: w.BudgetOff, Local: w.BudgetLocal},
		Hedge: Hedge{On: w.Hedge, Delay: d.duration("hedge_delay", w.HedgeDelay),
			Quantile: w.HedgeQuantile, MaxHedges: w.MaxHedges},
	}
	if w.RetryStatus != nil {
		p.RetryStatus = *w.RetryStatus
		if p.RetryStatus == nil {
			p.RetryStatus = []int{}
		}
	}
	return p, d.ps.err()
}

func (b BreakerPolicy) wire() breakerWire {
	return breakerWire{
		FailureThreshold: b.FailureThreshold,
		Window:           fmtDuration(b.Window),
		FailureRate:      b.FailureRate,
		MinCalls:         b.MinCalls,
		SlowCall:         fmtDuration(b.SlowCall),
		SlowCallRate:     b.SlowCallRate,
		OpenTimeout:      fmtDuration(b.OpenTimeout),
		OpenBackoff:      b.OpenBackoff,
		MaxOpenTimeout:   fmtDuration(b.MaxOpenTimeout),
		HalfOpenProbes:   b.HalfOpenProbes,
		ProbeLease:       fmtDuration(b.ProbeLease),
		ProbeGrace:       fmtDuration(b.ProbeGrace),
		FleetThreshold:   b.FleetThreshold,
		MinReporters:     b.MinReporters,
		MinFailureRate:   minRateWire(b.MinFailureRate),
		SpreadSites:      b.SpreadSites,
		SpreadProxies:    b.SpreadProxies,
		SiteFailureRate:  b.SiteFailureRate,
	}
}

// minRateWire writes MinFailureRate: the default (0) is left out, off
// (negative) is an explicit 0.
func minRateWire(r float64) *float64 {
	switch {
	case r == 0:
		return nil
	case r < 0:
		return new(float64)
	}
	return &r
}

func (w breakerWire) policy() (BreakerPolicy, error) {
	d := wireDecoder{section: "breaker"}
	b := BreakerPolicy{
		FailureThreshold: w.FailureThreshold,
		Window:           d.duration("window", w.Window),
		FailureRate:      w.FailureRate,
		MinCalls:         w.MinCalls,
		SlowCall:         d.duration("slow_call", w.SlowCall),
		SlowCallRate:     w.SlowCallRate,
		OpenTimeout:      d.duration("open_timeout", w.OpenTimeout),
		OpenBackoff:      w.OpenBackoff,
		MaxOpenTimeout:   d.duration("max_open_timeout", w.MaxOpenTimeout),
		HalfOpenProbes:   w.HalfOpenProbes,
		ProbeLease:       d.duration("probe_lease", w.ProbeLease),
		ProbeGrace:       d.duration("probe_grace", w.ProbeGrace),
		FleetThreshold:   w.FleetThreshold,
		MinReporters:     w.MinReporters,
		SpreadSites:      w.SpreadSites,
		SpreadProxies:    w.SpreadProxies,
		SiteFailureRate:  w.SiteFailureRate,
	}
	if w.MinFailureRate != nil {
		b.MinFailureRate = *w.MinFailureRate
		if b.MinFailureRate == 0 {
			b.MinFailureRate = NoMinFailureRate
		}
	}
	return b, d.ps.err()
}

func (s SelectPolicy) wire() (selectWire, error) {
	var ps problems
	enumIn(&ps, "select.strategy", strategyNames, s.Strategy)
	if err := ps.err(); err != nil {
		return selectWire{}, err
	}
	return selectWire{
		Strategy:      strategyNames[s.Strategy],
		SuccessWeight: s.SuccessWeight,
		LatencyWeight: s.LatencyWeight,
		RegionBonus:   s.RegionBonus,
		Window:        s.Window,
	}, nil
}

func (w selectWire) policy() (SelectPolicy, error) {
	d := wireDecoder{section: "select"}
	s := SelectPolicy{
		Strategy:      wireEnum[Strategy](&d, "strategy", strategyNames, w.Strategy),
		SuccessWeight: w.SuccessWeight,
		LatencyWeight: w.LatencyWeight,
		RegionBonus:   w.RegionBonus,
		Window:        w.Window,
	}
	return s, d.ps.err()
}

// wire returns the wire form of d. Version 0 is written as DocumentVersion;
// a section equal to its zero value is left out.
func (d Document) wire() (documentWire, error) {
	w := documentWire{Version: d.Version}
	if w.Version == 0 {
		w.Version = DocumentVersion
	}
	rw, err := d.Retry.wire()
	if err != nil {
		return documentWire{}, err
	}
	if rw != (retryWire{}) {
		w.Retry = &rw
	}
	if bw := d.Breaker.wire(); bw != (breakerWire{}) {
		w.Breaker = &bw
	}
	sw, err := d.Select.wire()
	if err != nil {
		return documentWire{}, err
	}
	if sw != (selectWire{}) {
		w.Select = &sw
	}
	return w, nil
}

// checkVersion rejects document versions this package cannot read.
func checkVersion(v int) error {
	if v != 0 && v != DocumentVersion {
		return fmt.Errorf("policy: unsupported document version %d (this build reads version %d)", v, DocumentVersion)
	}
	return nil
}
