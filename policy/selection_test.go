package policy_test

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/proxywhirl/retrycoord/policy"
)

func TestSelectWithDefaults(t *testing.T) {
	tests := []struct {
		name string
		in   policy.SelectPolicy
		want policy.SelectPolicy
	}{
		{"zero", policy.SelectPolicy{}, policy.DefaultSelect()},
		{"success only", policy.SelectPolicy{SuccessWeight: 1}, policy.SelectPolicy{Strategy: policy.StrategyP2C, SuccessWeight: 1, RegionBonus: 1.1, Window: 100}},
		{"latency only", policy.SelectPolicy{LatencyWeight: 1}, policy.SelectPolicy{Strategy: policy.StrategyP2C, LatencyWeight: 1, RegionBonus: 1.1, Window: 100}},
		{"strategy", policy.SelectPolicy{Strategy: policy.StrategyBest}, policy.SelectPolicy{Strategy: policy.StrategyBest, SuccessWeight: 0.7, LatencyWeight: 0.3, RegionBonus: 1.1, Window: 100}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, tt.in.WithDefaults()); diff != "" {
				t.Errorf("WithDefaults() mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestSelectValidate(t *testing.T) {
	tests := []struct {
		name string
		s    policy.SelectPolicy
		want string
	}{
		{"zero", policy.SelectPolicy{}, ""},
		{"round-robin", policy.SelectPolicy{Strategy: policy.StrategyRoundRobin}, ""},
		{"strategy 5", policy.SelectPolicy{Strategy: 5}, "select.strategy 5 out of range (valid: p2c, best, round-robin, random)"},
		{"weights 0.5/0.5", policy.SelectPolicy{SuccessWeight: 0.5, LatencyWeight: 0.5}, ""},
		{"weights 0.1+0.2 within 1e-9", policy.SelectPolicy{SuccessWeight: 0.1 + 0.2, LatencyWeight: 0.7}, ""},
		{"weights off by 1e-8", policy.SelectPolicy{SuccessWeight: 0.7 + 1e-8, LatencyWeight: 0.3}, "select.success_weight + select.latency_weight = 1.00000001, want 1 (±1e-9)"},
		{"weights sum 0.5", policy.SelectPolicy{SuccessWeight: 0.5}, "select.success_weight + select.latency_weight = 0.5, want 1"},
		{"success weight -0.5", policy.SelectPolicy{SuccessWeight: -0.5, LatencyWeight: 1.5}, "select.success_weight -0.5 out of range 0–1"},
		{"latency weight 1.5", policy.SelectPolicy{SuccessWeight: -0.5, LatencyWeight: 1.5}, "select.latency_weight 1.5 out of range 0–1"},
		{"bonus 1", policy.SelectPolicy{RegionBonus: 1}, ""},
		{"bonus 2", policy.SelectPolicy{RegionBonus: 2}, ""},
		{"bonus 0.9", policy.SelectPolicy{RegionBonus: 0.9}, "select.region_bonus 0.9 out of range 1–2"},
		{"bonus 2.1", policy.SelectPolicy{RegionBonus: 2.1}, "select.region_bonus 2.1 out of range 1–2"},
		{"window 1", policy.SelectPolicy{Window: 1}, ""},
		{"window 10000", policy.SelectPolicy{Window: 10_000}, ""},
		{"window 10001", policy.SelectPolicy{Window: 10_001}, "select.window 10001 out of range 1–10,000"},
		{"window -1", policy.SelectPolicy{Window: -1}, "select.window -1 out of range 1–10,000"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantErr(t, tt.s.Validate(), tt.want)
		})
	}
}
