package policy_test

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/proxywhirl/retrycoord/policy"
)

func TestBudgetAndHedgeBounds(t *testing.T) {
	tests := []struct {
		name string
		p    policy.RetryPolicy
		want string // "" for valid
	}{
		{"defaults", policy.RetryPolicy{}, ""},
		{"ratio above 1", policy.RetryPolicy{Budget: policy.RetryBudget{Ratio: 1.5}}, "retry.budget_ratio"},
		{"floor too low", policy.RetryPolicy{Budget: policy.RetryBudget{MinPerSecond: 0.01}}, "retry.budget_min_per_second"},
		{"window too long", policy.RetryPolicy{Budget: policy.RetryBudget{Window: time.Hour}}, "retry.budget_window"},
		{"hedge delay too short", policy.RetryPolicy{Hedge: policy.Hedge{On: true, Delay: time.Microsecond}}, "retry.hedge_delay"},
		{"too many hedges", policy.RetryPolicy{Hedge: policy.Hedge{MaxHedges: 4}}, "retry.max_hedges"},
		{"quantile", policy.RetryPolicy{Hedge: policy.Hedge{Quantile: 0.3}}, "retry.hedge_quantile"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.p.Validate()
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("Validate: %v", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Errorf("Validate = %v, want an error naming %s", err, tt.want)
			}
		})
	}
}

func TestBudgetAndHedgeInDocuments(t *testing.T) {
	const doc = `{"version": 1, "retry": {"budget_ratio": 0.1, "budget_min_per_second": 5, "budget_window": "20s",
		"budget_local": true, "hedge": true, "hedge_delay": "50ms", "max_hedges": 2}}`
	d, err := policy.ParseDocument([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	want := policy.RetryPolicy{
		Budget: policy.RetryBudget{Ratio: 0.1, MinPerSecond: 5, Window: 20 * time.Second, Local: true},
		Hedge:  policy.Hedge{On: true, Delay: 50 * time.Millisecond, MaxHedges: 2},
	}
	if diff := cmp.Diff(want, d.Retry); diff != "" {
		t.Errorf("parsed (-want +got):\n%s", diff)
	}
	out, err := d.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	back, err := policy.ParseDocument(out)
	if err != nil || !cmp.Equal(d, back) {
		t.Errorf("round trip: %v\n%s", err, cmp.Diff(d, back))
	}
	patched, err := d.Patch([]byte(`{"retry": {"hedge": null, "budget_off": true}}`))
	if err != nil || patched.Retry.Hedge.On || !patched.Retry.Budget.Off {
		t.Errorf("Patch = %+v, %v; want hedging off and the budget off", patched.Retry, err)
	}
}
