package cluster

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/hashicorp/memberlist"
	"github.com/proxywhirl/retrycoord/internal/testutil"
	"github.com/proxywhirl/retrycoord/policy"
	"github.com/proxywhirl/retrycoord/state"
)

func TestMain(m *testing.M) { testutil.VerifyTestMain(m) }

// fastBase is a memberlist configuration for quick loopback tests.
func fastBase() *memberlist.Config {
	c := memberlist.DefaultLocalConfig()
	c.GossipInterval = 20 * time.Millisecond
	c.ProbeInterval = 200 * time.Millisecond
	c.ProbeTimeout = 100 * time.Millisecond
	c.SuspicionMult = 2
	c.TCPTimeout = time.Second
	c.GossipToTheDeadTime = 500 * time.Millisecond
	c.DeadNodeReclaimTime = time.Millisecond
	return c
}

// member is one node of a test cluster: a table and a started node over
// it, which sends the table's local and manual changes itself.
type member struct {
	tb   *state.Table
	node *Node
}

func (m *member) close() { _ = m.node.Close() }

type clusterOpts struct {
	policy policy.BreakerPolicy
	tweak  func(i int, c *Config)
}

// startMember starts one node over a new table; it does not join.
func startMember(t testing.TB, name string, o clusterOpts, seeds []string, tweak func(*Config)) *member {
	t.Helper()
	tb, err := state.NewTable(state.Config{Node: name, Policy: o.policy})
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{Table: tb, Base: fastBase(), Seeds: seeds, PushPullInterval: time.Second, RejoinInterval: time.Second}
	if tweak != nil {
		tweak(&cfg)
	}
	n, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Start(); err != nil {
		t.Fatal(err)
	}
	return &member{tb: tb, node: n}
}

// startCluster starts size nodes over loopback, joined to the first.
func startCluster(t testing.TB, size int, o clusterOpts) []*member {
	t.Helper()
	var ms []*member
	t.Cleanup(func() {
		for _, m := range ms {
			m.close()
		}
	})
	for i := range size {
		var seeds []string
		if i > 0 {
			seeds = []string{ms[0].node.Addr()}
		}
		var tweak func(*Config)
		if o.tweak != nil {
			tweak = func(c *Config) { o.tweak(i, c) }
		}
		m := startMember(t, fmt.Sprintf("node-%02d", i), o, seeds, tweak)
		ms = append(ms, m)
		if i > 0 {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			_, err := m.node.Join(ctx, nil)
			cancel()
			if err != nil {
				t.Fatal(err)
			}
		}
	}
	testutil.Eventually(t, 10*time.Second, "full membership", func() bool {
		for _, m := range ms {
			if len(m.node.Members()) != size {
				return false
			}
		}
		return true
	})
	return ms
}

// allPhase reports whether every member sees upstream in phase p.
func allPhase(ms []*member, upstream string, p state.Phase) bool {
	for _, m := range ms {
		if m.tb.State(upstream) != p {
			return false
		}
	}
	return true
}

// sendMarker puts a pool fact on from and waits until every other member
// holds it: whatever from sent before it has arrived by then, or was never
// sent.
func sendMarker(t *testing.T, from *member, ms []*member) {
	t.Helper()
	from.tb.PutFact(state.KindPool, "marker", nil)
	testutil.Eventually(t, 5*time.Second, "marker on all", func() bool {
		for _, m := range ms {
			if _, ok := m.tb.Fact(state.KindPool, "marker"); !ok {
				return false
			}
		}
		return true
	})
}

// wantClosed reports every upstream that is not closed on one of ms.
func wantClosed(t *testing.T, ms []*member, ups []string) {
	t.Helper()
	for _, m := range ms {
		for _, up := range ups {
			if p := m.tb.State(up); p != state.PhaseClosed {
				t.Errorf("%s on %s is %v, want closed", up, m.node.Name(), p)
			}
		}
	}
}
