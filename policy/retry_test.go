package policy_test

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/proxywhirl/retrycoord/policy"
)

func TestRetryWithDefaults(t *testing.T) {
	tests := []struct {
		name string
		in   policy.RetryPolicy
		want policy.RetryPolicy
	}{
		{"zero", policy.RetryPolicy{}, policy.DefaultRetry()},
		{
			"set fields kept",
			policy.RetryPolicy{MaxAttempts: 5, Backoff: policy.BackoffLinear, Jitter: policy.JitterFull, RetryStatus: []int{429}, Timeout: time.Minute},
			policy.RetryPolicy{MaxAttempts: 5, Backoff: policy.BackoffLinear, BaseDelay: time.Second, Multiplier: 2, MaxDelay: 30 * time.Second, Jitter: policy.JitterFull, RetryStatus: []int{429}, Timeout: time.Minute,
				Budget: policy.DefaultBudget(), Hedge: policy.Hedge{Quantile: 0.95, MaxHedges: 1}},
		},
		{
			"empty status kept",
			policy.RetryPolicy{RetryStatus: []int{}},
			func() policy.RetryPolicy { p := policy.DefaultRetry(); p.RetryStatus = []int{}; return p }(),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := tt.in.WithDefaults()
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("WithDefaults() mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestRetryWithDefaultsCopiesStatus(t *testing.T) {
	in := policy.RetryPolicy{RetryStatus: []int{503}}
	out := in.WithDefaults()
	out.RetryStatus[0] = 429
	if in.RetryStatus[0] != 503 {
		t.Errorf("WithDefaults shares RetryStatus with its receiver")
	}
}

func TestRetryValidate(t *testing.T) {
	ms := time.Millisecond
	tests := []struct {
		name string
		p    policy.RetryPolicy
		want string // "" for valid
	}{
		{"zero", policy.RetryPolicy{}, ""},
		{"attempts 1", policy.RetryPolicy{MaxAttempts: 1}, ""},
		{"attempts 10", policy.RetryPolicy{MaxAttempts: 10}, ""},
		{"attempts 11", policy.RetryPolicy{MaxAttempts: 11}, "policy: retry.max_attempts 11 out of range 1–10"},
		{"attempts -1", policy.RetryPolicy{MaxAttempts: -1}, "retry.max_attempts -1 out of range 1–10"},
		{"backoff fixed", policy.RetryPolicy{Backoff: policy.BackoffFixed}, ""},
		{"backoff 4", policy.RetryPolicy{Backoff: 4}, "retry.backoff 4 out of range (valid: exponential, linear, fixed)"},
		{"base 0.1s", policy.RetryPolicy{BaseDelay: 100 * ms}, ""},
		{"base 60s", policy.RetryPolicy{BaseDelay: 60 * time.Second}, ""},
		{"base 99ms", policy.RetryPolicy{BaseDelay: 99 * ms}, "retry.base_delay 99ms out of range 0.1s–60s"},
		{"base 60.001s", policy.RetryPolicy{BaseDelay: 60*time.Second + ms}, "retry.base_delay 1m0.001s out of range 0.1s–60s"},
		{"base negative", policy.RetryPolicy{BaseDelay: -time.Second}, "retry.base_delay -1s out of range"},
		{"multiplier 1.1", policy.RetryPolicy{Multiplier: 1.1}, ""},
		{"multiplier 10", policy.RetryPolicy{Multiplier: 10}, ""},
		{"multiplier 1.09", policy.RetryPolicy{Multiplier: 1.09}, "retry.multiplier 1.09 out of range 1.1–10"},
		{"multiplier 10.5", policy.RetryPolicy{Multiplier: 10.5}, "retry.multiplier 10.5 out of range 1.1–10"},
		{"max 1s", policy.RetryPolicy{MaxDelay: time.Second}, ""},
		{"max 300s", policy.RetryPolicy{MaxDelay: 300 * time.Second}, ""},
		{"max 999ms", policy.RetryPolicy{MaxDelay: 999 * ms}, "retry.max_delay 999ms out of range 1s–300s"},
		{"max 301s", policy.RetryPolicy{MaxDelay: 301 * time.Second}, "retry.max_delay 5m1s out of range 1s–300s"},
		{"jitter decorrelated", policy.RetryPolicy{Jitter: policy.JitterDecorrelated}, ""},
		{"jitter 5", policy.RetryPolicy{Jitter: 5}, "retry.jitter 5 out of range (valid: none, full, equal, decorrelated)"},
		{"status 400 and 599", policy.RetryPolicy{RetryStatus: []int{400, 429, 599}}, ""},
		{"status none", policy.RetryPolicy{RetryStatus: []int{}}, ""},
		{"status 399", policy.RetryPolicy{RetryStatus: []int{503, 399}}, "retry.retry_status 399 out of range 400–599"},
		{"status 600", policy.RetryPolicy{RetryStatus: []int{600}}, "retry.retry_status 600 out of range 400–599"},
		{"timeout 0.1s", policy.RetryPolicy{Timeout: 100 * ms}, ""},
		{"timeout 99ms", policy.RetryPolicy{Timeout: 99 * ms}, "retry.timeout 99ms out of range 0 (none) or ≥ 0.1s"},
		{"timeout negative", policy.RetryPolicy{Timeout: -time.Second}, "retry.timeout -1s out of range"},
		{"attempt timeout 0.1s", policy.RetryPolicy{AttemptTimeout: 100 * ms}, ""},
		{"attempt timeout 99ms", policy.RetryPolicy{AttemptTimeout: 99 * ms}, "retry.attempt_timeout 99ms out of range 0 (none) or ≥ 0.1s"},
		{"attempt timeout = timeout", policy.RetryPolicy{Timeout: time.Second, AttemptTimeout: time.Second}, ""},
		{"attempt timeout > timeout", policy.RetryPolicy{Timeout: time.Second, AttemptTimeout: 2 * time.Second}, "retry.attempt_timeout 2s above retry.timeout 1s"},
		{"attempt timeout without timeout", policy.RetryPolicy{AttemptTimeout: time.Hour}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantErr(t, tt.p.Validate(), tt.want)
		})
	}
}

func TestRetryValidateListsEveryProblem(t *testing.T) {
	err := policy.RetryPolicy{MaxAttempts: 11, Multiplier: 20}.Validate()
	wantErr(t, err, "retry.max_attempts 11")
	wantErr(t, err, "retry.multiplier 20")
}

func TestRetries(t *testing.T) {
	tests := []struct {
		name   string
		status []int
		code   int
		want   bool
	}{
		{"default 503", nil, 503, true},
		{"default 500", nil, 500, false},
		{"default 429", nil, 429, false},
		{"listed 429", []int{429, 503}, 429, true},
		{"not listed 502", []int{429, 503}, 502, false},
		{"none", []int{}, 503, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := policy.RetryPolicy{RetryStatus: tt.status}
			if got := p.Retries(tt.code); got != tt.want {
				t.Errorf("Retries(%d) = %v, want %v", tt.code, got, tt.want)
			}
		})
	}
}

func TestIdempotentAndMayRetry(t *testing.T) {
	tests := []struct {
		method string
		want   bool
	}{
		{"GET", true}, {"HEAD", true}, {"OPTIONS", true}, {"PUT", true},
		{"DELETE", true}, {"TRACE", true}, {"", true},
		{"POST", false}, {"PATCH", false}, {"CONNECT", false}, {"get", false},
	}
	for _, tt := range tests {
		t.Run(tt.method, func(t *testing.T) {
			if got := policy.IsIdempotent(tt.method); got != tt.want {
				t.Errorf("IsIdempotent(%q) = %v, want %v", tt.method, got, tt.want)
			}
			if got := (policy.RetryPolicy{}).MayRetry(tt.method); got != tt.want {
				t.Errorf("MayRetry(%q) = %v, want %v", tt.method, got, tt.want)
			}
			if !(policy.RetryPolicy{RetryNonIdempotent: true}).MayRetry(tt.method) {
				t.Errorf("MayRetry(%q) with RetryNonIdempotent = false, want true", tt.method)
			}
		})
	}
}
