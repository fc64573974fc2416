package cluster

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/proxywhirl/retrycoord/cluster/faultnet"
	"github.com/proxywhirl/retrycoord/internal/testutil"
	"github.com/proxywhirl/retrycoord/state"
)

// TestPartitionHealsWithinRejoinInterval: with the default intervals
// (push/pull every 10s, re-join every 1s), a partition long enough for each
// side to declare the other dead, and for memberlist to stop gossiping to
// the dead, converges within a few seconds of the heal: the nodes re-join
// the members they lost, and a join exchanges full state at once. Before,
// only the seeds were re-joined, every 30s, so the split lasted until that
// tick (a node measured from outside converged 10–12 s after a 40 s cut);
// push/pull never picks a dead member.
func TestPartitionHealsWithinRejoinInterval(t *testing.T) {
	var fn faultnet.Network
	ms := startFaultCluster(t, 5, &fn, func(c *Config) {
		c.PushPullInterval, c.RejoinInterval = 0, 0 // the defaults
	})
	fn.Partition("left", "node-00", "node-01")
	fn.Partition("right", "node-02", "node-03", "node-04")
	testutil.Eventually(t, 10*time.Second, "each side declares the other dead", func() bool {
		for i, m := range ms {
			want := 3
			if i < 2 {
				want = 2
			}
			if len(m.node.Members()) != want {
				return false
			}
		}
		return true
	})
	// Outlast memberlist's memory of dead nodes (GossipToTheDeadTime), so
	// that memberlist's own gossip cannot heal the split.
	<-time.After(3 * fastBase().GossipToTheDeadTime)
	ms[0].tb.Trip("http://left:80", time.Hour, "")
	ms[4].tb.Trip("http://right:80", time.Hour, "")
	testutil.Eventually(t, 5*time.Second, "each trip on its side", func() bool {
		return allPhase(ms[:2], "http://left:80", state.PhaseOpen) && allPhase(ms[2:], "http://right:80", state.PhaseOpen)
	})
	if ms[2].tb.State("http://left:80") != state.PhaseClosed {
		t.Fatal("a trip crossed the partition")
	}
	fn.Heal()
	healed := time.Now()
	// Well under one push/pull interval (10s), which alone never heals a
	// split between dead members anyway.
	testutil.Eventually(t, 4*time.Second, "converged after the heal", func() bool {
		return wholeMembership(ms) && allPhase(ms, "http://left:80", state.PhaseOpen) && allPhase(ms, "http://right:80", state.PhaseOpen)
	})
	t.Logf("converged %v after the heal", time.Since(healed).Round(time.Millisecond))
}

// startSeeded starts size nodes on fn, each with only the seeds seedsOf
// gives it and joined to them, and waits for the full membership.
func startSeeded(t *testing.T, size int, fn *faultnet.Network, seedsOf func(i int, addrs []string) []string, tweak func(i int, c *Config)) []*member {
	t.Helper()
	var trs []*faultnet.Transport
	var addrs []string
	for i := range size {
		tr := fn.NewTransport(fmt.Sprintf("node-%02d", i))
		trs = append(trs, tr)
		addrs = append(addrs, tr.Addr())
	}
	var ms []*member
	t.Cleanup(func() {
		for _, m := range ms {
			m.close()
		}
	})
	for i := range size {
		seeds := seedsOf(i, addrs)
		m := startMember(t, fmt.Sprintf("node-%02d", i), clusterOpts{}, seeds, func(c *Config) {
			c.Transport = trs[i]
			c.PushPullInterval, c.RejoinInterval = 0, 0 // the defaults
			if tweak != nil {
				tweak(i, c)
			}
		})
		ms = append(ms, m)
		if len(seeds) > 0 {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			_, err := m.node.Join(ctx, nil)
			cancel()
			if err != nil {
				t.Fatal(err)
			}
		}
	}
	testutil.Eventually(t, 10*time.Second, "full membership", func() bool { return wholeMembership(ms) })
	return ms
}

// seededByFirst seeds every node but the first with the first one only.
func seededByFirst(i int, addrs []string) []string {
	if i == 0 {
		return nil
	}
	return addrs[:1]
}

// TestLostMemberRejoined: two nodes whose only seed is gone for good find
// each other again after a partition between them heals: each re-joins the
// member it lost, not only its seeds.
func TestLostMemberRejoined(t *testing.T) {
	var fn faultnet.Network
	ms := startSeeded(t, 3, &fn, seededByFirst, nil)
	fn.Partition("seed", "node-00") // the seed stays cut off
	fn.Partition("b", "node-01")
	fn.Partition("c", "node-02")
	testutil.Eventually(t, 10*time.Second, "everyone alone", func() bool {
		return len(ms[1].node.Members()) == 1 && len(ms[2].node.Members()) == 1
	})
	<-time.After(3 * fastBase().GossipToTheDeadTime) // past memberlist's own gossip to the dead
	ms[1].tb.Trip("http://b:80", time.Hour, "")
	ms[2].tb.Trip("http://c:80", time.Hour, "")
	fn.Partition("b", "node-01", "node-02") // 1 and 2 meet again; the seed does not
	testutil.Eventually(t, 4*time.Second, "nodes 1 and 2 converged", func() bool {
		pair := ms[1:]
		return len(ms[1].node.Members()) == 2 && len(ms[2].node.Members()) == 2 &&
			allPhase(pair, "http://b:80", state.PhaseOpen) && allPhase(pair, "http://c:80", state.PhaseOpen)
	})
}

// TestReturnedMemberSyncedAtOnce: a node that sees a lost member come back
// through someone else's re-join exchanges full state with it at once. Here
// node 1 never re-joins on its own (a re-join interval of an hour), push/
// pull is as rare, node 2's trip spent its gossip while the partition was
// new, and push/pull merges are not gossiped on: without that exchange
// node 1 would not get the trip node 2 made during the partition.
func TestReturnedMemberSyncedAtOnce(t *testing.T) {
	var fn faultnet.Network
	ms := startSeeded(t, 3, &fn, seededByFirst, func(i int, c *Config) {
		c.PushPullInterval = time.Hour
		if i > 0 {
			c.RejoinInterval = time.Hour
		}
	})
	fn.Partition("left", "node-00", "node-01")
	fn.Partition("right", "node-02")
	// Tripped while node 2 still holds the others alive: its fan-out and
	// gossip go into the partition.
	sent := ms[2].node.Stats().PacketsSent
	ms[2].tb.Trip("http://right:80", time.Hour, "")
	testutil.Eventually(t, 5*time.Second, "node 2's fan-out sent and gossip spent", func() bool {
		s := ms[2].node.Stats() // the sender queues the gossip before the fan-out
		return s.PacketsSent > sent && s.BroadcastQueue == 0
	})
	testutil.Eventually(t, 10*time.Second, "split membership", func() bool {
		return len(ms[0].node.Members()) == 2 && len(ms[1].node.Members()) == 2 && len(ms[2].node.Members()) == 1
	})
	<-time.After(3 * fastBase().GossipToTheDeadTime)
	if ms[1].tb.State("http://right:80") != state.PhaseClosed {
		t.Fatal("the trip crossed the partition")
	}
	fn.Heal() // node 0 re-joins node 2; node 1 hears of it by gossip
	testutil.Eventually(t, 4*time.Second, "node 1 holds node 2's trip", func() bool {
		return wholeMembership(ms) && allPhase(ms, "http://right:80", state.PhaseOpen)
	})
}
