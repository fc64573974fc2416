package cluster

import (
	"fmt"
	"testing"
	"time"

	"github.com/proxywhirl/retrycoord/internal/testutil"
	"github.com/proxywhirl/retrycoord/state"
)

// hangBound is how long a call that must not block may take before the
// test calls it hung. It is no timing assertion: a working call takes
// microseconds, a broken one forever.
const hangBound = 10 * time.Second

// returnsWithin runs f and fails the test when it does not return within
// hangBound.
func returnsWithin(t *testing.T, what string, f func()) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		defer close(done)
		f()
	}()
	select {
	case <-done:
	case <-time.After(hangBound):
		t.Fatalf("%s hung (more than %v)", what, hangBound)
	}
}

// breakNode fails every upstream on m until each is open there.
func breakNode(t *testing.T, m *member, ups []string) {
	t.Helper()
	for range 5 {
		for _, up := range ups {
			if tk, err := m.tb.Admit(up); err == nil {
				m.tb.Settle(tk, state.OutcomeFailure, time.Millisecond)
			}
		}
	}
	for _, up := range ups {
		if m.tb.State(up) != state.PhaseOpen {
			t.Fatalf("%s not open on the broken node", up)
		}
	}
}

func testUpstreams(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("http://%s.%d:80", prefix, i+1)
	}
	return out
}

// TestGuardFlipAfterShutdown is soak finding 2: the poison guard changed
// the node metadata with memberlist's UpdateNode(0), which waits without
// limit for the update to be gossiped, in the sender or the tick loop. Once
// memberlist was shut down that never happened, and Close waited forever
// for the loop. Now a flip of the guard only signals the metadata
// goroutine, which waits a bounded time.
func TestGuardFlipAfterShutdown(t *testing.T) {
	ms := startCluster(t, 2, clusterOpts{})
	bad := ms[0]
	ups := testUpstreams("10.0.3", 4)
	breakNode(t, bad, ups)
	testutil.Eventually(t, 5*time.Second, "node 0 suspects its network", func() bool { return bad.node.Stats().Suspect })
	// memberlist stops (as Close does first); then the guard recovers.
	if err := bad.node.ml.Load().Shutdown(); err != nil {
		t.Fatal(err)
	}
	for _, up := range ups {
		bad.tb.Reset(up)
	}
	returnsWithin(t, "guard.evaluate after memberlist shut down", func() {
		if bad.node.guard.evaluate() {
			t.Error("still suspect with every breaker reset")
		}
	})
	returnsWithin(t, "Close", func() { _ = bad.node.Close() })
}

// TestCloseRightAfterTurningSuspect closes nodes the moment their guard
// flips, while the sender and tick loops are busy with it.
func TestCloseRightAfterTurningSuspect(t *testing.T) {
	ups := testUpstreams("10.0.4", 4)
	for i := range 3 {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			ms := startCluster(t, 2, clusterOpts{})
			breakNode(t, ms[0], ups)
			returnsWithin(t, "Close", func() { _ = ms[0].node.Close() })
		})
	}
}
