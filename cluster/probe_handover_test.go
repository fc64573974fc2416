package cluster

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/proxywhirl/retrycoord/internal/testutil"
)

// TestProbeOwnershipMovesOffAGoneMember: the probe of a recovering proxy
// belongs to the member with the highest rendezvous score among the alive
// ones. When that member dies (closed without a word, found by memberlist's
// failure detector) or leaves, the survivors, once memberlist has told
// them and their maintenance pass has refreshed the probe candidates, all
// name the same new owner: the best of the survivors, which alone owns the
// probe. Before, every member names the one that goes.
func TestProbeOwnershipMovesOffAGoneMember(t *testing.T) {
	for _, leave := range []bool{false, true} {
		name := "dies"
		if leave {
			name = "leaves"
		}
		t.Run(name, func(t *testing.T) {
			ms := startCluster(t, 3, clusterOpts{})
			gone, survivors := ms[0], ms[1:]
			all := []string{ms[0].node.Name(), ms[1].node.Name(), ms[2].node.Name()}
			left := all[1:]
			// An upstream node-00 owns among all three, and whose owner among
			// the survivors is not their first by name (the one a node that
			// knows no scores might pick).
			var up string
			for i := range 1000 {
				u := fmt.Sprintf("http://10.0.19.%d:80", i)
				if owner(u, all) == all[0] && owner(u, left) == left[1] {
					up = u
					break
				}
			}
			if up == "" {
				t.Fatal("no upstream owned by node-00, then by node-02")
			}
			for _, m := range ms {
				m.node.maintain(time.Now())
			}
			for _, m := range ms {
				if o := m.node.ProbeOwner(up); o != all[0] {
					t.Fatalf("%s names %q the probe owner, want %s", m.node.Name(), o, all[0])
				}
				if got := m.node.ownsProbe(up); got != (m == gone) {
					t.Fatalf("%s owns the probe: %v, want %v", m.node.Name(), got, m == gone)
				}
			}

			if leave {
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				err := gone.node.Leave(ctx)
				cancel()
				if err != nil {
					t.Fatal(err)
				}
			}
			gone.close()
			testutil.Eventually(t, 20*time.Second, "the survivors' memberlist lets node-00 go", func() bool {
				for _, m := range survivors {
					if len(m.node.Members()) != 2 {
						return false
					}
				}
				return true
			})
			for _, m := range survivors {
				m.node.maintain(time.Now())
			}
			for _, m := range survivors {
				if o := m.node.ProbeOwner(up); o != left[1] {
					t.Errorf("%s names %q the probe owner after node-00 went, want %s", m.node.Name(), o, left[1])
				}
				if got, want := m.node.ownsProbe(up), m.node.Name() == left[1]; got != want {
					t.Errorf("%s owns the probe after node-00 went: %v, want %v", m.node.Name(), got, want)
				}
			}
		})
	}
}
