package api

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/proxywhirl/retrycoord/coord"
	"github.com/proxywhirl/retrycoord/policy"
)

// TestBudgets: a site's budget left and the exhausted counter are in the
// API and /metrics, without a label per site.
func TestBudgets(t *testing.T) {
	rp := policy.RetryPolicy{MaxAttempts: 3, BaseDelay: 100 * time.Millisecond,
		Budget: policy.RetryBudget{Ratio: 0.01, MinPerSecond: 0.1, Window: 10 * time.Second}}
	f := newFixtureWith(t, Config{}, coord.Config{Document: policy.Document{Retry: rp}})
	ctx := coord.WithSite(context.Background(), "example.com")
	fn := func(context.Context, *coord.Upstream) (*http.Response, error) {
		return &http.Response{StatusCode: 503, Body: io.NopCloser(strings.NewReader(""))}, nil
	}
	res, err := f.c.Do(ctx, fn)
	if err != nil || !res.BudgetExhausted {
		t.Fatalf("Do = %+v, %v; want the budget spent", res, err)
	}
	res.Response.Body.Close()
	b, err := f.cl.Budgets(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if b.Exhausted != 1 || b.Members != 1 || len(b.Sites) != 1 {
		t.Fatalf("Budgets = %+v; want one exhausted retry and one site", b)
	}
	if s := b.Sites[0]; s.Site != "example.com" || s.Firsts != 1 || s.Retries != 1 || s.Left >= 1 || s.Allowed != 1.01 {
		t.Errorf("site = %+v; want example.com, 1 first, 1 retry (the floor), less than one left of 1.01", s)
	}
	_, metrics, _ := f.call(t, "GET", "/metrics", "", "")
	for _, want := range []string{"retrycoord_budget_exhausted_total 1", `retrycoord_hedges_total{result="sent"} 0`, "retrycoord_budget_sites 1"} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if strings.Contains(metrics, "example.com") {
		t.Error("/metrics names a site")
	}
}
