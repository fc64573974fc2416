package cluster

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/proxywhirl/retrycoord/internal/testutil"
)

func TestMemberStates(t *testing.T) {
	ms := startCluster(t, 3, clusterOpts{})
	testutil.Eventually(t, 5*time.Second, "every node sees three alive members", func() bool {
		for _, m := range ms {
			got := m.node.MemberStates()
			if len(got) != 3 {
				return false
			}
			for _, x := range got {
				if x.State != "alive" || x.Suspect || x.Addr == "" {
					return false
				}
			}
		}
		return true
	})
	got := ms[1].node.MemberStates()
	for i, want := range []string{"node-00", "node-01", "node-02"} {
		if got[i].Name != want {
			t.Fatalf("MemberStates()[%d].Name = %q, want %q (sorted)", i, got[i].Name, want)
		}
	}
	if got[0].Addr != ms[0].node.Addr() {
		t.Fatalf("node-00's address %q, want %q", got[0].Addr, ms[0].node.Addr())
	}
}

// TestRestartAtNewAddress is soak finding 3: memberlist rewrites the nodes
// Members() returns in place when a member comes back under the same name
// at a new address, and the node read them afterwards (re-join, fan-out,
// Members, MemberStates): a data race under -race. It restarts a member
// at a new address while the others keep sending and reading their views.
func TestRestartAtNewAddress(t *testing.T) {
	ms := startCluster(t, 3, clusterOpts{})
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for i, m := range ms[:2] {
		wg.Add(1)
		go func() {
			defer wg.Done()
			up := fmt.Sprintf("http://10.0.8.%d:80", i+1)
			tick := time.NewTicker(time.Millisecond)
			defer tick.Stop()
			for k := 0; k < 100_000; k++ {
				select {
				case <-stop:
					return
				case <-tick.C:
				}
				if k%2 == 0 {
					m.tb.Trip(up, time.Minute, "")
				} else {
					m.tb.Reset(up)
				}
				_ = m.node.MemberStates()
				m.node.rejoin()
			}
		}()
	}
	defer func() { close(stop); wg.Wait() }()
	old := ms[2]
	for round := range 2 {
		oldAddr := old.node.Addr()
		if round == 0 {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			_ = old.node.Leave(ctx)
			cancel()
		}
		old.close()
		j := joinMember(t, old.node.Name(), clusterOpts{}, ms[round])
		if j.node.Addr() == oldAddr {
			t.Fatalf("restarted at the same address %s", oldAddr)
		}
		testutil.Eventually(t, 10*time.Second, "the others see the new address", func() bool {
			for _, m := range ms[:2] {
				st := m.node.MemberStates()
				i := slices.IndexFunc(st, func(x Member) bool { return x.Name == j.node.Name() })
				if i < 0 || st[i].Addr != j.node.Addr() || st[i].State != "alive" {
					return false
				}
			}
			return true
		})
		old = j
	}
}
