package policy_test

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/proxywhirl/retrycoord/policy"
)

func TestDocumentPatch(t *testing.T) {
	base := policy.Document{
		Version: 1,
		Retry:   policy.RetryPolicy{MaxAttempts: 4, BaseDelay: 2 * time.Second, Jitter: policy.JitterFull, RetryStatus: []int{503}},
		Breaker: policy.BreakerPolicy{FailureThreshold: 8},
		Select:  policy.SelectPolicy{Strategy: policy.StrategyBest},
	}
	tests := []struct {
		name  string
		patch string
		want  func(*policy.Document)
	}{
		{"empty patch", `{}`, func(*policy.Document) {}},
		{"one field", `{"retry": {"max_attempts": 6}}`, func(d *policy.Document) { d.Retry.MaxAttempts = 6 }},
		{"nested merge keeps siblings", `{"retry": {"backoff": "fixed"}, "breaker": {"window": "2m"}}`, func(d *policy.Document) {
			d.Retry.Backoff = policy.BackoffFixed
			d.Breaker.Window = 2 * time.Minute
		}},
		{"array replaced", `{"retry": {"retry_status": [429, 502]}}`, func(d *policy.Document) { d.Retry.RetryStatus = []int{429, 502} }},
		{"null resets a field to its default", `{"retry": {"jitter": null, "retry_status": null}}`, func(d *policy.Document) {
			d.Retry.Jitter = 0
			d.Retry.RetryStatus = nil
		}},
		{"null resets a policy", `{"select": null}`, func(d *policy.Document) { d.Select = policy.SelectPolicy{} }},
		{"version 1", `{"version": 1}`, func(*policy.Document) {}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want := base
			want.Retry.RetryStatus = []int{503}
			tt.want(&want)
			got, err := base.Patch([]byte(tt.patch))
			if err != nil {
				t.Fatalf("Patch(%s): %v", tt.patch, err)
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("Patch(%s) mismatch (-want +got):\n%s", tt.patch, diff)
			}
		})
	}
}

func TestDocumentPatchErrors(t *testing.T) {
	base := policy.Document{Retry: policy.RetryPolicy{MaxAttempts: 4, RetryStatus: []int{503}}}
	tests := []struct {
		name  string
		patch string
		want  string
	}{
		{"out of range", `{"retry": {"max_attempts": 11}}`, "policy: retry.max_attempts 11 out of range 1–10"},
		{"invalid as a whole", `{"retry": {"timeout": "1s", "attempt_timeout": "2s"}}`, "retry.attempt_timeout 2s above retry.timeout 1s"},
		{"unknown field", `{"retry": {"max_attempt": 3}}`, `unknown field "max_attempt" in retry`},
		{"unknown section", `{"routing": {}}`, `unknown field "routing" in document`},
		{"bad duration", `{"breaker": {"window": "forever"}}`, `breaker.window: invalid duration "forever"`},
		{"section not an object", `{"retry": 3}`, "policy: retry: got number, want an object"},
		{"not an object", `[1]`, "policy: patch must be a JSON object"},
		{"null", `null`, "policy: patch must be a JSON object"},
		{"bad json", `{"retry": `, "policy: invalid json"},
		{"trailing data", `{} x`, "policy: invalid json"},
		{"version 2", `{"version": 2}`, "unsupported document version 2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := base
			before.Retry.RetryStatus = []int{503}
			got, err := base.Patch([]byte(tt.patch))
			wantErr(t, err, tt.want)
			if diff := cmp.Diff(before, got); diff != "" {
				t.Errorf("Patch returned a changed document on error (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(before, base); diff != "" {
				t.Errorf("Patch changed its receiver (-want +got):\n%s", diff)
			}
		})
	}
}

func TestRetryPatch(t *testing.T) {
	p := policy.RetryPolicy{MaxAttempts: 4, Backoff: policy.BackoffLinear}
	got, err := p.Patch([]byte(`{"base_delay": "250ms", "backoff": null}`))
	if err != nil {
		t.Fatal(err)
	}
	want := policy.RetryPolicy{MaxAttempts: 4, BaseDelay: 250 * time.Millisecond}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Patch mismatch (-want +got):\n%s", diff)
	}

	got, err = p.Patch([]byte(`{"multiplier": 20}`))
	wantErr(t, err, "policy: retry.multiplier 20 out of range 1.1–10")
	if diff := cmp.Diff(p, got); diff != "" {
		t.Errorf("Patch returned a changed policy on error (-want +got):\n%s", diff)
	}
	_, err = p.Patch([]byte(`{"retry": {}}`))
	wantErr(t, err, `unknown field "retry" in retry`)
}
