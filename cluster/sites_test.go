package cluster

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/proxywhirl/retrycoord/internal/testutil"
	"github.com/proxywhirl/retrycoord/policy"
	"github.com/proxywhirl/retrycoord/state"
)

func allPhaseAt(ms []*member, k state.Key, p state.Phase) bool {
	for _, m := range ms {
		if m.tb.StateAt(k) != p {
			return false
		}
	}
	return true
}

// TestSiteTripReachesAll: an operator's trip of a site, and of a pair,
// through one node holds on every node; resets too.
func TestSiteTripReachesAll(t *testing.T) {
	ms := startCluster(t, 3, clusterOpts{})
	site, pair := state.SiteKey("example.com"), state.PairKey("http://10.0.0.1:8080", "example.org")
	ms[0].tb.TripAt(site, time.Minute, "")
	ms[1].tb.TripAt(pair, time.Minute, "")
	testutil.Eventually(t, 5*time.Second, "site and pair open on all", func() bool {
		return allPhaseAt(ms, site, state.PhaseOpen) && allPhaseAt(ms, pair, state.PhaseOpen)
	})
	for _, m := range ms {
		if got := m.tb.State("http://10.0.0.1:8080"); got != state.PhaseClosed {
			t.Errorf("%s: the pair's proxy is %v, want closed", m.node.Name(), got)
		}
	}
	ms[2].tb.ResetAt(site)
	testutil.Eventually(t, 5*time.Second, "site closed on all", func() bool { return allPhaseAt(ms, site, state.PhaseClosed) })
}

// TestSiteOpensFromFleetEvidence: a site failing through five proxies,
// spread over three nodes so that none sees five itself, opens on every
// node from the fleet's merged evidence (failures, calls and the proxies
// they went through).
func TestSiteOpensFromFleetEvidence(t *testing.T) {
	ms := startCluster(t, 3, clusterOpts{})
	site := state.SiteKey("down.com")
	for i := range 6 {
		m := ms[i%3]
		var s state.Scoped
		_, err := m.tb.AdmitScoped(&s, fmt.Sprintf("http://10.0.0.%d:8080", i), "down.com")
		if err != nil {
			t.Fatal(err)
		}
		m.tb.SettleScoped(&s, state.OutcomeFailure, state.LevelPair, time.Millisecond)
	}
	testutil.Eventually(t, 5*time.Second, "the site open on all", func() bool { return allPhaseAt(ms, site, state.PhaseOpen) })
	for _, m := range ms {
		for i := range 6 {
			if got := m.tb.StateAt(state.PairKey(fmt.Sprintf("http://10.0.0.%d:8080", i), "down.com")); got != state.PhaseClosed {
				t.Errorf("%s: pair %d is %v, want closed (the site explains it)", m.node.Name(), i, got)
			}
		}
	}
}

// TestExactlyOneSiteProbe: when an open site's time runs out, only its
// probe owner gets a probe, fleet-wide.
func TestExactlyOneSiteProbe(t *testing.T) {
	pol := policy.DefaultBreaker()
	pol.ProbeGrace = 10 * time.Second
	ms := startCluster(t, 5, clusterOpts{policy: pol})
	site := state.SiteKey("example.com")
	ms[0].tb.TripAt(site, 300*time.Millisecond, "")
	testutil.Eventually(t, 5*time.Second, "open on all", func() bool { return allPhaseAt(ms, site, state.PhaseOpen) })
	var tickets []state.Ticket
	var owners []*member
	ask := func() {
		for _, m := range ms {
			if tk, err := m.tb.AdmitAt(site); err == nil {
				tickets = append(tickets, tk)
				owners = append(owners, m)
			}
		}
	}
	testutil.Eventually(t, 5*time.Second, "a probe", func() bool { ask(); return len(tickets) > 0 })
	for range 20 {
		ask() // nobody else may probe
	}
	if len(tickets) != 1 {
		t.Fatalf("site probes fleet-wide = %d, want exactly one", len(tickets))
	}
	owners[0].tb.Settle(tickets[0], state.OutcomeSuccess, time.Millisecond)
	testutil.Eventually(t, 5*time.Second, "closed on all after the probe", func() bool { return allPhaseAt(ms, site, state.PhaseClosed) })
}

// TestJoinerGetsPairsAndSites: a node that (re)joins gets the fleet's pair
// and site records by push/pull.
func TestJoinerGetsPairsAndSites(t *testing.T) {
	ms := startCluster(t, 2, clusterOpts{})
	site, pair := state.SiteKey("example.com"), state.PairKey("http://10.0.0.1:8080", "example.org")
	ms[0].tb.TripAt(site, time.Minute, "")
	ms[0].tb.TripAt(pair, time.Minute, "")
	testutil.Eventually(t, 5*time.Second, "open on both", func() bool {
		return allPhaseAt(ms, site, state.PhaseOpen) && allPhaseAt(ms, pair, state.PhaseOpen)
	})
	j := startMember(t, "node-joiner", clusterOpts{}, []string{ms[1].node.Addr()}, nil)
	t.Cleanup(j.close)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := j.node.Join(ctx, nil); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 5*time.Second, "the joiner has both", func() bool {
		return j.tb.StateAt(site) == state.PhaseOpen && j.tb.StateAt(pair) == state.PhaseOpen
	})
}
