package api

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/proxywhirl/retrycoord/coord"
	"github.com/proxywhirl/retrycoord/internal/testutil"
	"github.com/proxywhirl/retrycoord/policy"
)

type fakeStats []Stat

func (s fakeStats) CollectStats() []Stat { return s }

func TestMetrics(t *testing.T) {
	f := newFixture(t, Config{Version: "v2", Stats: []StatsSource{fakeStats{
		{Name: "retrycoord_gossip_messages_total", Help: "Gossip messages.", Kind: Counter, Labels: map[string]string{"dir": "in"}, Value: 7},
		{Name: "retrycoord_cluster_members", Help: "Members.", Kind: Gauge, Value: 3},
		{Name: "bad name!", Value: 1}, // skipped, not an error
	}}})
	ctx := context.Background()
	if _, err := f.cl.Trip(ctx, f.keys[0], time.Minute, "x"); err != nil {
		t.Fatal(err)
	}
	for _, o := range []string{"success", "failure", "ban"} {
		if _, err := f.cl.Report(ctx, ReportRequest{Upstream: f.keys[1], Outcome: o, Status: 503, Latency: "100ms"}); err != nil {
			t.Fatal(err)
		}
	}
	want := []string{
		`retrycoord_requests_total 3`,
		`retrycoord_attempts_total{outcome="success",reason="none"} 1`,
		`retrycoord_attempts_total{outcome="failure",reason="status"} 1`,
		`retrycoord_attempts_total{outcome="ban",reason="ban"} 1`,
		`retrycoord_attempt_latency_seconds_sum 0.3`,
		`retrycoord_attempt_latency_seconds_count 3`,
		`retrycoord_breakers{phase="open"} 1`,
		`retrycoord_breakers{phase="closed"} 2`,
		`retrycoord_breaker_open{upstream="` + f.keys[0] + `"} 1`,
		`retrycoord_breaker_transitions_total{source="manual",to="open"} 1`,
		`retrycoord_pool_upstreams 3`,
		`retrycoord_subscription_drops_total 0`,
		`retrycoord_table_breakers`,
		`retrycoord_stale_settles_total`,
		`retrycoord_evicted_breakers_total`,
		`retrycoord_hlc_clamped_total`,
		`retrycoord_evidence_ahead_dropped_total`,
		`retrycoord_bad_facts_total 0`,
		`retrycoord_build_info{node="local",version="v2"} 1`,
		`retrycoord_gossip_messages_total{dir="in"} 7`,
		`retrycoord_cluster_members 3`,
		`go_goroutines`,
		`process_`,
	}
	var body string
	testutil.Eventually(t, 5*time.Second, "the transition counted", func() bool {
		_, body, _ = f.call(t, "GET", "/metrics", "", "")
		return strings.Contains(body, `retrycoord_breaker_transitions_total{source="manual",to="open"} 1`)
	})
	for _, w := range want {
		if !strings.Contains(body, w) {
			t.Errorf("/metrics lacks %q", w)
		}
	}
	if strings.Contains(body, secretPW) {
		t.Errorf("/metrics leaks the password")
	}
}

// TestAttemptCountersMonotonic: the recorder forgets hours after 24h; the
// attempt counters must not go down when it does.
func TestAttemptCountersMonotonic(t *testing.T) {
	var mu sync.Mutex
	now := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	f := newFixtureWith(t, Config{}, coord.Config{Now: clock})
	ctx := context.Background()
	report := func() {
		if _, err := f.cl.Report(ctx, ReportRequest{Upstream: f.keys[0], Outcome: "failure", Status: 502, Latency: "1s"}); err != nil {
			t.Fatal(err)
		}
	}
	scrape := func() string { _, body, _ := f.call(t, "GET", "/metrics", "", ""); return body }
	report()
	report()
	if b := scrape(); !strings.Contains(b, "retrycoord_requests_total 2") {
		t.Fatalf("first scrape: %s", grep(b, "retrycoord_requests"))
	}
	advance(2 * time.Hour)
	report()
	if b := scrape(); !strings.Contains(b, "retrycoord_requests_total 3") {
		t.Fatalf("second scrape: %s", grep(b, "retrycoord_requests"))
	}
	advance(23 * time.Hour) // the first hour is no longer kept
	report()
	b := scrape()
	for _, w := range []string{"retrycoord_requests_total 4", `retrycoord_attempts_total{outcome="failure",reason="status"} 4`, "retrycoord_attempt_latency_seconds_sum 4"} {
		if !strings.Contains(b, w) {
			t.Errorf("after the hour left: want %q in\n%s", w, grep(b, "retrycoord_attempt"))
		}
	}
}

func grep(body, prefix string) string {
	var out []string
	for _, l := range strings.Split(body, "\n") {
		if strings.HasPrefix(l, prefix) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// TestMetricsTargetOutcome: an attempt whose proxy reports that the target
// failed is counted as outcome "target", not as the proxy's failure.
func TestMetricsTargetOutcome(t *testing.T) {
	f := newFixture(t, Config{})
	rp := policy.DefaultRetry()
	rp.MaxAttempts = 1
	ctx, err := coord.WithRetryPolicy(context.Background(), rp)
	if err != nil {
		t.Fatal(err)
	}
	_, err = f.c.Do(ctx, func(context.Context, *coord.Upstream) (*http.Response, error) {
		h := http.Header{"X-Squid-Error": {"ERR_CONNECT_FAIL 111"}}
		return &http.Response{StatusCode: 503, Header: h, Body: http.NoBody}, nil
	})
	if err == nil {
		t.Fatal("a target failure succeeded")
	}
	_, body, _ := f.call(t, "GET", "/metrics", "", "")
	if want := `retrycoord_attempts_total{outcome="target",reason="target"} 1`; !strings.Contains(body, want) {
		t.Errorf("metrics lack %s", want)
	}
}
