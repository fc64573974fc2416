package cluster

import (
	"context"
	"testing"
	"time"

	"github.com/proxywhirl/retrycoord/cluster/faultnet"
	"github.com/proxywhirl/retrycoord/internal/testutil"
)

// TestJoinThroughSuspectSeedBehindTheFleet is the soak finding of issue 12
// ("restart via a suspect seed below the fleet's generation", seed 99 and
// again after issue 14), in order: a suspect node withholds its own trip,
// and misses the trip the rest of the fleet made meanwhile. What it sends a
// joiner in place of its withheld record is what it has seen of the fleet,
// which is behind. A node that joined through it was ready below the
// fleet's generation; now a joiner whose only seed is suspect exchanges
// state with a healthy member too before its Join returns.
//
// The events are ordered by faultnet: packets from the healthy nodes to the
// suspect one are dropped (streams still pass, so memberlist's TCP pings
// keep every member alive), and push/pull is an hour apart, so nothing
// brings the fleet's trip to the suspect node.
func TestJoinThroughSuspectSeedBehindTheFleet(t *testing.T) {
	var fn faultnet.Network
	slow := func(c *Config) {
		c.PushPullInterval = time.Hour
		c.RejoinInterval = time.Hour
	}
	ms := startFaultCluster(t, 3, &fn, slow)
	bad, healthy := ms[0], ms[1:]
	ups := testUpstreams("10.0.12", 4)
	up := ups[0]
	// node-00's network breaks: it trips every upstream, withholds the
	// trips, and the others see it suspect.
	breakNode(t, bad, ups)
	testutil.Eventually(t, 5*time.Second, "others see node-00 suspect", func() bool {
		return bad.node.Stats().Suspect && healthy[0].node.peers.suspect(bad.node.Name()) && healthy[1].node.peers.suspect(bad.node.Name())
	})
	own, _ := bad.tb.Record(up)
	// From here on nothing the healthy nodes send by packet reaches it.
	for _, h := range healthy {
		fn.SetLinkFault(h.node.Name(), bad.node.Name(), faultnet.Fault{Drop: 1})
	}
	// The fleet trips up (node-01 fails it), past node-00's withheld gen.
	healthy[0].tb.Trip(up, time.Minute, "")
	healthy[0].tb.Reset(up)
	healthy[0].tb.Trip(up, time.Minute, "")
	fleet, _ := healthy[0].tb.Record(up)
	testutil.Eventually(t, 5*time.Second, "the fleet's trip on node-02", func() bool {
		r, ok := healthy[1].tb.Record(up)
		return ok && r.Gen == fleet.Gen && r.Origin == fleet.Origin && r.Phase == fleet.Phase
	})
	if r, _ := bad.tb.Record(up); r.Gen != own.Gen || r.Origin != own.Origin || r.Phase != own.Phase {
		t.Fatalf("precondition: node-00 holds %v gen %d by %s, want its own withheld trip gen %d (the fleet's trip reached it)", r.Phase, r.Gen, r.Origin, own.Gen)
	}
	if fleet.Gen <= own.Gen {
		t.Fatalf("precondition: the fleet's gen %d is not past node-00's %d", fleet.Gen, own.Gen)
	}

	tr := fn.NewTransport("node-09")
	j := startMember(t, "node-09", clusterOpts{}, nil, func(c *Config) {
		c.Transport = tr
		slow(c)
	})
	t.Cleanup(j.close)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := j.node.Join(ctx, []string{bad.node.Addr()}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-j.node.Ready():
	default:
		t.Fatal("Join returned, the node is not ready")
	}
	if got, _ := j.tb.Record(up); got.Gen < fleet.Gen {
		t.Fatalf("joined through the suspect node-00: %s at %v gen %d, the fleet holds %v gen %d", up, got.Phase, got.Gen, fleet.Phase, fleet.Gen)
	}
}
