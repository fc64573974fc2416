package coord

import (
	"context"
	"testing"
	"time"

	"github.com/proxywhirl/retrycoord/internal/testproxy"
	"github.com/proxywhirl/retrycoord/policy"
)

// TestFailoverNeverRetriesATriedUpstream: a retry goes to an upstream this
// request has not tried. The pool is set up so that nothing but the tried
// list can send the retry elsewhere: the strategy is best (p2c explores at
// random one pick in eight, round-robin moves on by itself), and of two
// upstreams the one that fails scores far above the other even after its
// failure (a refused connection is the proxy's fault, scored on its own
// 100 outcomes, not its pair's). A broken tried list retries the failing
// upstream every time.
func TestFailoverNeverRetriesATriedUpstream(t *testing.T) {
	origin := testproxy.NewOrigin(t)
	for _, s := range []policy.Strategy{policy.StrategyBest} {
		t.Run(s.String(), func(t *testing.T) {
			farm := testproxy.Start(t, 2)
			bad, good := farm.Proxies[0], farm.Proxies[1]
			bad.Set(testproxy.Refuse()) // a proxy-level fault: scored on the proxy's own outcomes
			rp := fastRetry()
			rp.MaxAttempts = 2
			c, cl := setup(t, farm, Config{Document: policy.Document{Retry: rp, Select: policy.SelectPolicy{Strategy: s}}})
			feed(c.Upstream(keyOf(bad)), 100, 100, time.Millisecond) // success rate 1
			feed(c.Upstream(keyOf(good)), 100, 10, time.Millisecond) // success rate 0.1
			resp, _, err := get(t, cl, context.Background(), origin.URL)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, a := range recorded(c, lastRequest(c)) {
				got = append(got, a.Upstream)
			}
			if resp.StatusCode != 200 || len(got) != 2 || got[0] != keyOf(bad) || got[1] != keyOf(good) {
				t.Fatalf("status %d through %v, want 200 through [%s %s]", resp.StatusCode, got, keyOf(bad), keyOf(good))
			}
		})
	}
}

// TestRetryAfterShorterThanTheBackoff: a Retry-After shorter than the
// backoff's wait never shortens it (the longer one is capped at MaxDelay:
// TestRetryAfterIsHonouredUpToMaxDelay).
func TestRetryAfterShorterThanTheBackoff(t *testing.T) {
	origin := testproxy.NewOrigin(t)
	farm := testproxy.Start(t, 2)
	farm.SetAll(testproxy.Fault{Kind: testproxy.KindStatus, Status: 503, RetryAfter: "1"})
	rp := fastRetry()
	rp.MaxAttempts, rp.BaseDelay, rp.MaxDelay = 2, 1500*time.Millisecond, 5*time.Second
	c, cl := setup(t, farm, Config{Document: policy.Document{Retry: rp}})
	_, _, _ = get(t, cl, context.Background(), origin.URL)
	if as := recorded(c, lastRequest(c)); len(as) != 2 || as[1].Delay != 1500*time.Millisecond {
		t.Errorf("recorded %+v, want the second attempt after the backoff's 1.5s, not Retry-After's 1s", as)
	}
}

// TestMaxLatencyCache: p2c normalises latency by the pool's highest mean
// latency, rescanned at most every maxLatEvery (100ms) and raised at once
// when an upstream's mean passes it.
func TestMaxLatencyCache(t *testing.T) {
	c := newTestCoord(t, policy.SelectPolicy{}, Entries("http://a:1", "http://b:1")...)
	list := c.pool.load().list
	a, b := c.Upstream("http://a:1"), c.Upstream("http://b:1")
	feed(a, 100, 100, 100*time.Millisecond)
	feed(b, 100, 100, 10*time.Millisecond)
	now := time.Now().UnixNano()
	if got := c.sel.maxLatency(list, now); got != 100*time.Millisecond {
		t.Fatalf("first scan: %v, want 100ms", got)
	}
	feed(a, 100, 100, time.Millisecond) // a's mean drops to 1ms
	if got := c.sel.maxLatency(list, now+int64(maxLatEvery)-1); got != 100*time.Millisecond {
		t.Errorf("within maxLatEvery: %v, want the cached 100ms", got)
	}
	if got := c.sel.maxLatency(list, now+int64(maxLatEvery)); got != 10*time.Millisecond {
		t.Errorf("after maxLatEvery: %v, want a rescan's 10ms", got)
	}
	feed(a, 100, 100, 50*time.Millisecond)
	c.sel.noteLatency(a)
	if got := c.sel.maxLatency(list, now+int64(maxLatEvery)); got != 50*time.Millisecond {
		t.Errorf("after a's mean passed the maximum: %v, want 50ms at once", got)
	}
	feed(b, 100, 100, time.Millisecond)
	c.sel.noteLatency(b)
	if got := c.sel.maxLatency(list, now+int64(maxLatEvery)); got != 50*time.Millisecond {
		t.Errorf("a lower mean lowered the maximum between scans: %v, want 50ms", got)
	}
}
