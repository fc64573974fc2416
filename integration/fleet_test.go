package integration

import (
	"context"
	"testing"
	"time"

	"github.com/proxywhirl/retrycoord/internal/testproxy"
	"github.com/proxywhirl/retrycoord/internal/testutil"
	"github.com/proxywhirl/retrycoord/policy"
	"github.com/proxywhirl/retrycoord/state"
)

// TestFleetAvoidsADeadProxy is the project's user-visible promise: a proxy
// that trips on one node is open on the others, and their traffic no longer
// reaches it.
func TestFleetAvoidsADeadProxy(t *testing.T) {
	farm := testproxy.Start(t, 6)
	origin := testproxy.NewOrigin(t)
	dead := farm.Proxies[3]
	dead.Set(testproxy.Refuse())
	deadKey := dead.URL() // "http://127.0.0.1:port", the coordinator's key

	// The default policy but a short backoff, so that the test is quick.
	doc := policy.Document{Retry: policy.RetryPolicy{BaseDelay: 100 * time.Millisecond}}
	f := startFleet(t, fleetOpts{size: 3, sharing: shareFleet, pool: farm.URLs(), doc: doc, fast: true})
	ctx := context.Background()

	// Traffic through node 0 only, until the dead proxy trips there.
	n0 := f.nodes[0]
	deadline := time.Now().Add(20 * time.Second)
	sent := 0
	for n0.tb.State(deadKey) != state.PhaseOpen {
		if sent >= 500 || time.Now().After(deadline) {
			t.Fatalf("%s not open on node-0 after %d requests (proxy saw %d)", deadKey, sent, dead.Requests())
		}
		if _, err := n0.get(ctx, origin.URL); err != nil {
			t.Fatalf("request %d through node-0: %v", sent, err)
		}
		sent++
	}
	t.Logf("tripped on node-0 after %d requests; the dead proxy saw %d", sent, dead.Requests())

	start := time.Now()
	testutil.Eventually(t, 10*time.Second, "nodes 1 and 2 report the dead proxy open", func() bool {
		return f.nodes[1].tb.State(deadKey) == state.PhaseOpen && f.nodes[2].tb.State(deadKey) == state.PhaseOpen
	})
	t.Logf("open on nodes 1 and 2 within %v", time.Since(start).Round(time.Millisecond))

	// Nodes 1 and 2 never send to it.
	before := dead.Requests()
	for _, n := range f.nodes[1:] {
		for i := range 60 {
			if _, err := n.get(ctx, origin.URL); err != nil {
				t.Fatalf("request %d through %s: %v", i, n.name, err)
			}
		}
	}
	if got := dead.Requests(); got != before {
		t.Errorf("dead proxy requests = %d after traffic through nodes 1 and 2, want %d (unchanged)", got, before)
	}
}
