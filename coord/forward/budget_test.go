package forward

import (
	"testing"
	"time"

	"github.com/proxywhirl/retrycoord/coord"
	"github.com/proxywhirl/retrycoord/internal/testproxy"
	"github.com/proxywhirl/retrycoord/policy"
)

// TestBudgetExhaustedHeader: when the site's retry budget is spent, the
// forward proxy returns the last answer with X-Retrycoord-Budget:
// exhausted, after one attempt; with budget to spend it retries.
func TestBudgetExhaustedHeader(t *testing.T) {
	for _, tt := range []struct {
		name         string
		budget       policy.RetryBudget
		wantStatus   int
		wantHeader   string
		wantAttempts string
	}{
		{"spent", policy.RetryBudget{Ratio: 0.01, MinPerSecond: 0.1, Window: time.Second}, 503, "exhausted", "1"},
		{"off", policy.RetryBudget{Off: true}, 200, "", "2"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			farm := testproxy.Start(t, 2)
			origin := testproxy.NewOrigin(t)
			origin.ScriptStatus(503)
			rp := fastRetry()
			rp.Budget = tt.budget
			c, err := coord.New(coord.Config{Pool: coord.Entries(farm.URLs()...), Document: policy.Document{Retry: rp}})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = c.Close() })
			_, purl := serve(t, Config{Coordinator: c})
			resp, _ := get(t, client(t, purl, nil, true), origin.URL)
			if resp.StatusCode != tt.wantStatus || resp.Header.Get(coord.HeaderBudget) != tt.wantHeader ||
				resp.Header.Get(coord.HeaderAttempts) != tt.wantAttempts {
				t.Errorf("status %d, %s %q, attempts %q; want %d, %q, %s", resp.StatusCode, coord.HeaderBudget,
					resp.Header.Get(coord.HeaderBudget), resp.Header.Get(coord.HeaderAttempts), tt.wantStatus, tt.wantHeader, tt.wantAttempts)
			}
		})
	}
}
