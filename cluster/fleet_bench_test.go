package cluster

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/proxywhirl/retrycoord/cluster/faultnet"
	"github.com/proxywhirl/retrycoord/internal/testutil"
)

// fleetOpts shape a benchmark fleet.
type fleetOpts struct {
	fn    *faultnet.Network // nil: real UDP/TCP on loopback
	tweak func(i int, c *Config)
}

// joinSeeds is how many running members a benchmark node joins at once:
// each join is a full state exchange, so a newcomer is known to several
// members from the start instead of to the first node alone.
const joinSeeds = 3

// startFleet starts size nodes in this process, each joined to up to
// joinSeeds random members already running, and waits for every node to
// see every other. Memberlist spreads a newcomer by gossip that a loaded
// machine may drop; a node still missing members is joined to one it
// misses (a state exchange both ways) at most every rejoinEvery, so
// formation does not hang on a lost alive message until the next
// push/pull. The wait is bounded by 10s plus 100ms a node.
func startFleet(b testing.TB, size int, o fleetOpts) []*member {
	b.Helper()
	var ms []*member
	b.Cleanup(func() {
		for _, m := range ms {
			m.close()
		}
	})
	var trs []*faultnet.Transport
	if o.fn != nil {
		for i := range size {
			trs = append(trs, o.fn.NewTransport(fmt.Sprintf("node-%03d", i)))
		}
	}
	addrs := make([]string, 0, size)
	for i := range size {
		m := startMember(b, fmt.Sprintf("node-%03d", i), clusterOpts{}, nil, func(c *Config) {
			if trs != nil {
				c.Transport = trs[i]
			}
			if o.tweak != nil {
				o.tweak(i, c)
			}
		})
		ms = append(ms, m)
		if i > 0 {
			seeds := make([]string, 0, joinSeeds)
			for _, j := range rand.Perm(i)[:min(i, joinSeeds)] {
				seeds = append(seeds, addrs[j])
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			_, err := m.node.Join(ctx, seeds)
			cancel()
			if err != nil {
				b.Fatal(err)
			}
		}
		addrs = append(addrs, m.node.Addr())
	}
	const rejoinEvery = 500 * time.Millisecond
	lastJoin := make([]time.Time, size)
	timeout := 10*time.Second + time.Duration(size)*100*time.Millisecond
	testutil.Eventually(b, timeout, "full membership", func() bool {
		whole := true
		for i, m := range ms {
			got := m.node.Members()
			if len(got) == size {
				continue
			}
			whole = false
			if time.Since(lastJoin[i]) < rejoinEvery {
				continue
			}
			lastJoin[i] = time.Now()
			if j := firstMissing(ms, got); j >= 0 {
				ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
				_, _ = m.node.Join(ctx, []string{addrs[j]}) // the next check sees the result
				cancel()
			}
		}
		return whole
	})
	return ms
}

// firstMissing returns the index of the first member whose name is not in
// names (sorted), or -1.
func firstMissing(ms []*member, names []string) int {
	have := make(map[string]bool, len(names))
	for _, n := range names {
		have[n] = true
	}
	for j, m := range ms {
		if !have[m.node.Name()] {
			return j
		}
	}
	return -1
}
