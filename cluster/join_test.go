package cluster

import (
	"context"
	"testing"
	"time"

	"github.com/proxywhirl/retrycoord/internal/testutil"
	"github.com/proxywhirl/retrycoord/state"
)

// joinMember starts a fresh node that joins seed and waits until it is
// Ready; the test's cleanup closes it.
func joinMember(t *testing.T, name string, o clusterOpts, seed *member) *member {
	t.Helper()
	j := startMember(t, name, o, []string{seed.node.Addr()}, nil)
	t.Cleanup(j.close)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := j.node.Join(ctx, nil); err != nil {
		t.Fatal(err)
	}
	select {
	case <-j.node.Ready():
	case <-ctx.Done():
		t.Fatal("not ready within 5s of the join")
	}
	return j
}

// TestJoinKeepsAdoptedRecordsOfSuspectNode is soak finding 5: the suspect
// filter also applied to push/pull, so a node joining through a healthy
// seed dropped a record of a suspect node that the seed (and the whole
// fleet) had adopted, and never agreed with the fleet again.
func TestJoinKeepsAdoptedRecordsOfSuspectNode(t *testing.T) {
	ms := startCluster(t, 3, clusterOpts{})
	bad := ms[0]
	// Node 0 trips one dead upstream while healthy: the fleet adopts it.
	dead := "http://10.0.6.100:80"
	breakNode(t, bad, []string{dead})
	tripped, _ := bad.tb.Record(dead)
	testutil.Eventually(t, 5*time.Second, "the trip on all", func() bool { return allPhase(ms, dead, state.PhaseOpen) })
	// Then its network breaks.
	breakNode(t, bad, testUpstreams("10.0.6", 4))
	testutil.Eventually(t, 5*time.Second, "others see node 0 suspect", func() bool {
		return ms[1].node.peers.suspect(bad.node.Name()) && ms[2].node.peers.suspect(bad.node.Name())
	})
	j := joinMember(t, "node-09", clusterOpts{}, ms[1])
	got, ok := j.tb.Record(dead)
	if !ok || got.Gen != tripped.Gen || got.Phase != state.PhaseOpen || got.Origin != bad.node.Name() {
		t.Fatalf("joiner holds %+v (ok %v), want the fleet's %v gen %d by %s", got, ok, tripped.Phase, tripped.Gen, tripped.Origin)
	}
}

// TestJoinThroughSuspectNode is soak finding 4: a suspect node's LocalState
// dropped its withheld trips entirely, so a node joining through it started
// below the fleet's generation, and its next trip lost to the fleet's
// record. Now the suspect node sends what the fleet holds instead.
func TestJoinThroughSuspectNode(t *testing.T) {
	ms := startCluster(t, 3, clusterOpts{})
	bad := ms[0]
	ups := testUpstreams("10.0.7", 4)
	up := ups[0]
	// The fleet holds up at gen 1, closed.
	ms[1].tb.Trip(up, time.Minute, "")
	testutil.Eventually(t, 5*time.Second, "the trip on all", func() bool { return allPhase(ms, up, state.PhaseOpen) })
	ms[1].tb.Reset(up)
	testutil.Eventually(t, 5*time.Second, "the reset on all", func() bool { return allPhase(ms, up, state.PhaseClosed) })
	fleet, _ := ms[1].tb.Record(up)
	// Node 0's network breaks: it trips up at gen 2 and withholds it.
	breakNode(t, bad, ups)
	testutil.Eventually(t, 5*time.Second, "others see node 0 suspect", func() bool {
		return bad.node.Stats().Suspect && ms[1].node.peers.suspect(bad.node.Name())
	})
	if r, _ := bad.tb.Record(up); r.Gen != fleet.Gen+1 || r.Phase != state.PhaseOpen {
		t.Fatalf("node 0 holds %v gen %d, want open gen %d", r.Phase, r.Gen, fleet.Gen+1)
	}
	if r, _ := ms[1].tb.Record(up); r.Gen != fleet.Gen || r.Phase != state.PhaseClosed {
		t.Fatalf("node 1 holds %v gen %d, want node 0's trip withheld", r.Phase, r.Gen)
	}
	j := joinMember(t, "node-09", clusterOpts{}, bad)
	if got, _ := j.tb.Record(up); got.Gen < fleet.Gen || got.Phase != state.PhaseClosed {
		t.Fatalf("joined through the suspect node: %v gen %d, want the fleet's closed gen %d", got.Phase, got.Gen, fleet.Gen)
	}
}
