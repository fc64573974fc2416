package policy_test

import (
	"math"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/proxywhirl/retrycoord/policy"
)

func TestBreakerWithDefaults(t *testing.T) {
	tests := []struct {
		name string
		in   policy.BreakerPolicy
		want func(*policy.BreakerPolicy)
	}{
		{"zero", policy.BreakerPolicy{}, func(*policy.BreakerPolicy) {}},
		{"fleet threshold follows failure threshold", policy.BreakerPolicy{FailureThreshold: 8}, func(b *policy.BreakerPolicy) {
			b.FailureThreshold, b.FleetThreshold = 8, 8
		}},
		{"fleet threshold set", policy.BreakerPolicy{FailureThreshold: 8, FleetThreshold: 20}, func(b *policy.BreakerPolicy) {
			b.FailureThreshold, b.FleetThreshold = 8, 20
		}},
		{"optional fields stay off", policy.BreakerPolicy{FailureRate: 0.5, SlowCall: time.Second}, func(b *policy.BreakerPolicy) {
			b.FailureRate, b.SlowCall = 0.5, time.Second
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want := policy.DefaultBreaker()
			tt.want(&want)
			if diff := cmp.Diff(want, tt.in.WithDefaults()); diff != "" {
				t.Errorf("WithDefaults() mismatch (-want +got):\n%s", diff)
			}
		})
	}
	if got := policy.DefaultBreaker().Validate(); got != nil {
		t.Errorf("DefaultBreaker().Validate() = %v", got)
	}
}

func TestBreakerValidate(t *testing.T) {
	s, m, h := time.Second, time.Minute, time.Hour
	tests := []struct {
		name string
		b    policy.BreakerPolicy
		want string
	}{
		{"zero", policy.BreakerPolicy{}, ""},
		{"threshold 1", policy.BreakerPolicy{FailureThreshold: 1}, ""},
		{"threshold 10000", policy.BreakerPolicy{FailureThreshold: 10_000}, ""},
		{"threshold 10001", policy.BreakerPolicy{FailureThreshold: 10_001}, "breaker.failure_threshold 10001 out of range 1–10,000"},
		{"threshold -1", policy.BreakerPolicy{FailureThreshold: -1}, "breaker.failure_threshold -1 out of range 1–10,000"},
		{"window 1s", policy.BreakerPolicy{Window: s}, ""},
		{"window 1h", policy.BreakerPolicy{Window: h}, ""},
		{"window 999ms", policy.BreakerPolicy{Window: s - time.Millisecond}, "breaker.window 999ms out of range 1s–1h"},
		{"window 1h1s", policy.BreakerPolicy{Window: h + s}, "breaker.window 1h0m1s out of range 1s–1h"},
		{"failure rate 1", policy.BreakerPolicy{FailureRate: 1}, ""},
		{"failure rate tiny", policy.BreakerPolicy{FailureRate: 1e-9}, ""},
		{"failure rate 1.01", policy.BreakerPolicy{FailureRate: 1.01}, "breaker.failure_rate 1.01 out of range (0, 1]"},
		{"failure rate -0.5", policy.BreakerPolicy{FailureRate: -0.5}, "breaker.failure_rate -0.5 out of range (0, 1]"},
		{"failure rate NaN", policy.BreakerPolicy{FailureRate: math.NaN()}, "breaker.failure_rate NaN out of range (0, 1]"},
		{"min calls 1", policy.BreakerPolicy{MinCalls: 1}, ""},
		{"min calls 1e6", policy.BreakerPolicy{MinCalls: 1_000_000}, ""},
		{"min calls 1e6+1", policy.BreakerPolicy{MinCalls: 1_000_001}, "breaker.min_calls 1000001 out of range 1–1,000,000"},
		{"slow call 1ms", policy.BreakerPolicy{SlowCall: time.Millisecond}, ""},
		{"slow call negative", policy.BreakerPolicy{SlowCall: -s}, "breaker.slow_call -1s out of range 0 (off) or > 0"},
		{"slow call rate 1", policy.BreakerPolicy{SlowCall: s, SlowCallRate: 1}, ""},
		{"slow call rate 2", policy.BreakerPolicy{SlowCall: s, SlowCallRate: 2}, "breaker.slow_call_rate 2 out of range (0, 1]"},
		{"open timeout 1s", policy.BreakerPolicy{OpenTimeout: s}, ""},
		{"open timeout 1h", policy.BreakerPolicy{OpenTimeout: h, MaxOpenTimeout: h}, ""},
		{"open timeout 500ms", policy.BreakerPolicy{OpenTimeout: s / 2}, "breaker.open_timeout 500ms out of range 1s–1h"},
		{"open timeout 2h", policy.BreakerPolicy{OpenTimeout: 2 * h, MaxOpenTimeout: 2 * h}, "breaker.open_timeout 2h0m0s out of range 1s–1h"},
		{"open backoff 1", policy.BreakerPolicy{OpenBackoff: 1}, ""},
		{"open backoff 10", policy.BreakerPolicy{OpenBackoff: 10}, ""},
		{"open backoff 0.5", policy.BreakerPolicy{OpenBackoff: 0.5}, "breaker.open_backoff 0.5 out of range 1–10"},
		{"open backoff 11", policy.BreakerPolicy{OpenBackoff: 11}, "breaker.open_backoff 11 out of range 1–10"},
		{"max open = open", policy.BreakerPolicy{OpenTimeout: m, MaxOpenTimeout: m}, ""},
		{"max open < open", policy.BreakerPolicy{OpenTimeout: m, MaxOpenTimeout: 59 * s}, "breaker.max_open_timeout 59s below breaker.open_timeout 1m0s"},
		{"max open < default open", policy.BreakerPolicy{MaxOpenTimeout: 10 * s}, "breaker.max_open_timeout 10s below breaker.open_timeout 30s"},
		{"probes 100", policy.BreakerPolicy{HalfOpenProbes: 100}, ""},
		{"probes 101", policy.BreakerPolicy{HalfOpenProbes: 101}, "breaker.half_open_probes 101 out of range 1–100"},
		{"lease 1s", policy.BreakerPolicy{ProbeLease: s}, ""},
		{"lease 10m", policy.BreakerPolicy{ProbeLease: 10 * m}, ""},
		{"lease 999ms", policy.BreakerPolicy{ProbeLease: s - time.Millisecond}, "breaker.probe_lease 999ms out of range 1s–10m"},
		{"lease 11m", policy.BreakerPolicy{ProbeLease: 11 * m}, "breaker.probe_lease 11m0s out of range 1s–10m"},
		{"grace 1ns", policy.BreakerPolicy{ProbeGrace: 1}, ""},
		{"grace 10m", policy.BreakerPolicy{ProbeGrace: 10 * m}, ""},
		{"grace negative", policy.BreakerPolicy{ProbeGrace: -s}, "breaker.probe_grace -1s out of range (0, 10m]"},
		{"grace 10m1s", policy.BreakerPolicy{ProbeGrace: 10*m + s}, "breaker.probe_grace 10m1s out of range (0, 10m]"},
		{"fleet 1e6", policy.BreakerPolicy{FleetThreshold: 1_000_000}, ""},
		{"fleet 1e6+1", policy.BreakerPolicy{FleetThreshold: 1_000_001}, "breaker.fleet_threshold 1000001 out of range 1–1,000,000"},
		{"fleet -1", policy.BreakerPolicy{FleetThreshold: -1}, "breaker.fleet_threshold -1 out of range 1–1,000,000"},
		{"reporters 1000", policy.BreakerPolicy{MinReporters: 1000}, ""},
		{"reporters 1001", policy.BreakerPolicy{MinReporters: 1001}, "breaker.min_reporters 1001 out of range 1–1,000"},
		{"min failure rate off", policy.BreakerPolicy{MinFailureRate: policy.NoMinFailureRate}, ""},
		{"min failure rate 1", policy.BreakerPolicy{MinFailureRate: 1}, ""},
		{"min failure rate 1.5", policy.BreakerPolicy{MinFailureRate: 1.5}, "breaker.min_failure_rate 1.5 out of range (0, 1]"},
		{"min failure rate -0.5", policy.BreakerPolicy{MinFailureRate: -0.5}, "breaker.min_failure_rate -0.5 out of range (0, 1]"},
		{"spread sites 1000", policy.BreakerPolicy{SpreadSites: 1000}, ""},
		{"spread sites 1001", policy.BreakerPolicy{SpreadSites: 1001}, "breaker.spread_sites 1001 out of range 1–1,000"},
		{"spread proxies 1000", policy.BreakerPolicy{SpreadProxies: 1000}, ""},
		{"spread proxies 1001", policy.BreakerPolicy{SpreadProxies: 1001}, "breaker.spread_proxies 1001 out of range 1–1,000"},
		{"site failure rate 1", policy.BreakerPolicy{SiteFailureRate: 1}, ""},
		{"site failure rate 1.1", policy.BreakerPolicy{SiteFailureRate: 1.1}, "breaker.site_failure_rate 1.1 out of range (0, 1]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantErr(t, tt.b.Validate(), tt.want)
		})
	}
}
