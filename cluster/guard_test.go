package cluster

import (
	"testing"
	"time"

	"github.com/proxywhirl/retrycoord/state"
)

// TestOperatorTripsAreNotPoison: an operator who trips most of a node's pool
// (say, a provider's whole range being retired) is not a broken network.
// The node must not turn suspect, and every trip must reach the fleet.
func TestOperatorTripsAreNotPoison(t *testing.T) {
	ms := startCluster(t, 2, clusterOpts{})
	ups := []string{"http://10.0.2.1:80", "http://10.0.2.2:80", "http://10.0.2.3:80", "http://10.0.2.4:80"}
	for _, up := range ups {
		tk, _ := ms[0].tb.Admit(up)
		ms[0].tb.Settle(tk, state.OutcomeSuccess, time.Millisecond)
	}
	for _, up := range ups[:3] {
		ms[0].tb.Trip(up, time.Hour, "retired by operator")
	}
	eventually(t, 5*time.Second, "the operator's trips are open on node 1", func() bool {
		for _, up := range ups[:3] {
			if ms[1].tb.State(up) != state.PhaseOpen {
				return false
			}
		}
		return true
	})
	if ms[0].node.Stats().Suspect {
		t.Fatal("operator trips made the node suspect its own network")
	}
	if w := ms[0].node.Stats().TripsWithheld; w != 0 {
		t.Fatalf("%d operator trips withheld", w)
	}
}
