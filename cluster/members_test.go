package cluster

import (
	"testing"
	"time"
)

func TestMemberStates(t *testing.T) {
	ms := startCluster(t, 3, clusterOpts{})
	eventually(t, 5*time.Second, "every node sees three alive members", func() bool {
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
