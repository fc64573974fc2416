package cluster

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/proxywhirl/retrycoord/cluster/faultnet"
	"github.com/proxywhirl/retrycoord/internal/testutil"
	"github.com/proxywhirl/retrycoord/state"
)

// BenchmarkLossConvergence measures DESIGN §8's "convergence with 10%
// packet loss: every node within one push/pull interval" for a fleet, where
// a test cannot assert it: memberlist picks each push/pull partner at random
// and starts each node's timer at a random point of the interval, so how
// many intervals a fleet needs is a distribution, not a bound.
// TestLossConvergesWithinPushPull checks the rule that is certain (one
// exchange carries everything, whatever the loss did). Each iteration starts
// 5 nodes over cluster/faultnet dropping 10% of packets (push/pull every
// 1s), trips 20 upstreams spread over the nodes, and times until every node
// holds every trip (at most 10s, else it fails). It reports that time in
// push/pull intervals, p50 and max. ns/op includes starting the cluster;
// run it with a fixed count:
//
//	go test -run '^$' -bench BenchmarkLossConvergence -benchtime=20x ./cluster
func BenchmarkLossConvergence(b *testing.B) {
	for _, mode := range []string{"hybrid", "gossip"} {
		b.Run("mode="+mode, func(b *testing.B) {
			const interval = time.Second
			var took []time.Duration
			for range b.N {
				took = append(took, lossConvergence(b, mode, interval))
			}
			slices.Sort(took)
			in := func(d time.Duration) float64 { return float64(d) / float64(interval) }
			b.ReportMetric(in(took[len(took)/2]), "p50-intervals")
			b.ReportMetric(in(took[len(took)-1]), "max-intervals")
		})
	}
}

// lossConvergence runs one iteration of BenchmarkLossConvergence and
// returns how long it took until every node held every trip.
func lossConvergence(b *testing.B, mode string, interval time.Duration) time.Duration {
	b.StopTimer()
	var fn faultnet.Network
	ms := startFaultCluster(b, 5, &fn, func(c *Config) {
		c.PushPullInterval = interval
		c.DisableFanout = mode == "gossip"
		c.PoisonMinUpstreams = -1
	})
	defer func() {
		for _, m := range ms {
			m.close()
		}
	}()
	fn.SetFault(faultnet.Fault{Drop: 0.10, Delay: time.Millisecond})
	testutil.Eventually(b, 2*time.Second, "the network drops packets", func() bool { return fn.Dropped() > 0 })
	var ups []string
	for i := range 20 {
		ups = append(ups, fmt.Sprintf("http://10.0.4.%d:80", i))
	}
	b.StartTimer()
	start := time.Now()
	for i, up := range ups {
		ms[i%len(ms)].tb.Trip(up, time.Hour, "")
	}
	testutil.Eventually(b, 10*time.Second, "every trip on every node", func() bool {
		for _, up := range ups {
			if !allPhase(ms, up, state.PhaseOpen) {
				return false
			}
		}
		return true
	})
	return time.Since(start)
}
