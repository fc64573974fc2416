package integration

import (
	"errors"
	"strconv"
	"time"

	"github.com/proxywhirl/retrycoord/cluster/faultnet"
	"github.com/proxywhirl/retrycoord/policy"
	"github.com/proxywhirl/retrycoord/state"
)

// The soak's random events and faults. Each is chosen with the soak's
// seeded generator and runs on the soak's goroutine.

// healthyNode returns a random node other than node-6.
func (s *soak) healthyNode() *soakNode { return s.nodes[s.rng.IntN(soakPoisoned)] }

func (s *soak) chaosUp() string { return s.chaosUps[s.rng.IntN(len(s.chaosUps))] }

func (s *soak) site() string { return s.sites[s.rng.IntN(len(s.sites))] }

// randomEvent does one random thing: mostly breaker traffic, sometimes a
// fact, sometimes a fault.
func (s *soak) randomEvent() {
	r := s.rng.IntN(100)
	switch {
	case r < 30:
		s.events++
		s.probe(s.healthyNode(), s.chaosUp(), s.rng.IntN(4) != 0)
	case r < 40:
		s.events++
		n, up := s.healthyNode(), s.chaosUp()
		for range 1 + s.rng.IntN(3) {
			if tk, err := n.tb.Admit(up); err == nil {
				n.tb.Settle(tk, state.OutcomeFailure, 0)
			}
		}
	case r < 50:
		s.events++
		s.healthyNode().tb.Trip(s.chaosUp(), 0, "soak trip")
	case r < 60:
		s.events++
		s.healthyNode().tb.Reset(s.chaosUp())
	case r < 63:
		s.events++
		s.policyChange(s.healthyNode())
	case r < 66:
		s.events++
		n, up := s.healthyNode(), s.chaosUp()
		if s.rng.IntN(3) == 0 {
			n.tb.DeleteFact(state.KindPool, up)
		} else {
			n.tb.PutFact(state.KindPool, up, []byte("region=r"+strconv.Itoa(s.rng.IntN(3))))
		}
	case r < 69:
		s.partition()
	case r < 72:
		if s.groups != nil || s.rng.IntN(2) == 0 {
			s.faults++
			s.fn.Heal()
			s.groups = nil
		}
	case r < 75:
		s.loss()
	case r < 77:
		s.restart(s.rng.IntN(soakPoisoned))
	case r < 81:
		s.events++
		s.siteOutage(s.healthyNode(), s.site())
	case r < 89:
		s.events++
		s.probeScoped(s.healthyNode(), s.chaosUp(), s.site(), s.rng.IntN(3) != 0)
	case r < 91:
		s.events++
		if s.rng.IntN(2) == 0 {
			s.healthyNode().tb.TripAt(state.SiteKey(s.site()), 0, "soak site trip")
		} else {
			s.healthyNode().tb.TripAt(state.PairKey(s.chaosUp(), s.site()), 0, "soak pair trip")
		}
	case r < 93:
		s.events++
		if s.rng.IntN(2) == 0 {
			s.healthyNode().tb.ResetAt(state.SiteKey(s.site()))
		} else {
			s.healthyNode().tb.ResetAt(state.PairKey(s.chaosUp(), s.site()))
		}
	}
}

// siteOutage is a site failing through every proxy n tries: the site's
// failing status through 5–8 chaos proxies, once each, which may open the
// site (SpreadProxies 5) fleet-wide.
func (s *soak) siteOutage(n *soakNode, site string) {
	for _, i := range s.rng.Perm(len(s.chaosUps))[:5+s.rng.IntN(len(s.chaosUps)-4)] {
		var sc state.Scoped
		if _, err := n.tb.AdmitScoped(&sc, s.chaosUps[i], site); err == nil {
			n.tb.SettleScoped(&sc, state.OutcomeFailure, state.LevelPair, 0)
		}
	}
}

// probeScoped is one call through n to up for site. A refused admission
// is checked against the probing invariant, at the level that refused.
func (s *soak) probeScoped(n *soakNode, up, site string, success bool) {
	siteBefore, _ := n.tb.RecordAt(state.SiteKey(site))
	pairBefore, _ := n.tb.RecordAt(state.PairKey(up, site))
	upBefore, _ := n.tb.Record(up)
	var sc state.Scoped
	lvl, err := n.tb.AdmitScoped(&sc, up, site)
	if errors.Is(err, state.ErrOpen) {
		before, k := siteBefore, state.SiteKey(site)
		switch lvl {
		case state.LevelProxy:
			before, k = upBefore, state.ProxyKey(up)
		case state.LevelPair:
			before, k = pairBefore, state.PairKey(up, site)
		}
		after, _ := n.tb.RecordAt(k)
		s.check.refused(n, before, after)
		return
	}
	if success {
		n.tb.SettleScoped(&sc, state.OutcomeSuccess, 0, 0)
	} else {
		n.tb.SettleScoped(&sc, state.OutcomeFailure, state.LevelPair, 0)
	}
}

// probe is one call through n to up: Admit, then Settle with success or
// failure. A refused Admit is checked against the probing invariant.
func (s *soak) probe(n *soakNode, up string, success bool) {
	before, _ := n.tb.Record(up)
	tk, err := n.tb.Admit(up)
	if errors.Is(err, state.ErrOpen) {
		after, _ := n.tb.Record(up)
		s.check.refused(n, before, after)
		return
	}
	outcome := state.OutcomeFailure
	if success {
		outcome = state.OutcomeSuccess
	}
	n.tb.Settle(tk, outcome, 0)
}

// policyChange writes a new policy document on n: the soak policy with a
// FailureThreshold of 4, 5 or 6.
func (s *soak) policyChange(n *soakNode) {
	s.threshold = 4 + s.rng.IntN(3)
	b, err := policy.Document{Breaker: soakPolicy(s.threshold)}.MarshalJSON()
	if err != nil {
		s.t.Fatal(err)
	}
	n.tb.PutFact(state.KindPolicy, "", b)
}

// partition splits the fleet in two random groups (when it is whole).
func (s *soak) partition() {
	if s.groups != nil {
		return
	}
	s.faults++
	perm := s.rng.Perm(soakNodes)
	cut := 2 + s.rng.IntN(soakNodes-3) // groups of 2–5 and 5–2
	s.groups = [][]int{perm[:cut], perm[cut:]}
	for g, idx := range s.groups {
		for _, i := range idx {
			s.fn.Partition("g"+strconv.Itoa(g), s.name(i))
		}
	}
}

// loss sets a random loss of 0–20% (and up to 2ms delay) on a few random
// links, or on every link.
func (s *soak) loss() {
	s.faults++
	f := func() faultnet.Fault {
		return faultnet.Fault{Drop: 0.2 * s.rng.Float64(), Delay: time.Duration(s.rng.Int64N(int64(2 * time.Millisecond)))}
	}
	if s.rng.IntN(3) == 0 {
		s.fn.SetFault(f())
		return
	}
	for range 1 + s.rng.IntN(6) {
		from, to := s.rng.IntN(soakNodes), s.rng.IntN(soakNodes)
		if from != to {
			s.fn.SetLinkFault(s.name(from), s.name(to), f())
		}
	}
}

// group returns the indexes of the nodes that node i can reach.
func (s *soak) group(i int) []int {
	for _, g := range s.groups {
		for _, j := range g {
			if j == i {
				return g
			}
		}
	}
	all := make([]int, soakNodes)
	for j := range all {
		all[j] = j
	}
	return all
}

// restart stops node i (gracefully or not) and starts a fresh table and
// node with the same name and a new clock skew, joined to a node it can
// reach. Once the join returned, it must hold its seed's generations.
func (s *soak) restart(i int) {
	var peers []int
	for _, j := range s.group(i) {
		if j != i {
			peers = append(peers, j)
		}
	}
	if len(peers) == 0 {
		return
	}
	s.faults++
	old := s.nodes[i]
	if err := old.close(s.rng.IntN(2) == 0); err != nil {
		s.check.fail("", "close hung", "%v", err)
	}
	seed := s.nodes[peers[s.rng.IntN(len(peers))]]
	var seeds []string
	for j, n := range s.nodes {
		if j != i {
			seeds = append(seeds, n.node.Addr())
		}
	}
	n, err := startSoakNode(s.fn, s.name(i), s.skew(), s.threshold, seeds)
	if err != nil {
		s.t.Fatalf("restart %s: %v", s.name(i), err)
	}
	s.nodes[i] = n
	var others []*soakNode
	for _, j := range peers {
		if o := s.nodes[j]; o != seed && j != soakPoisoned {
			others = append(others, o)
		}
	}
	shared, fleet := joinFloor(seed, seed == s.nodes[soakPoisoned], others)
	if err := n.join(seed.node.Addr()); err != nil {
		s.check.fail("", "restart", "%v", err)
		s.check.restarted(n.name, map[string]uint64{})
		return
	}
	if !n.ready() {
		s.check.fail("", "restart", "%s: join returned but not ready", n.name)
	}
	got := gensOf(n.tb)
	for up, r := range shared {
		if got[up] < r.Gen {
			s.check.fail("", "restart below its seed's generation",
				"%s: after joining %s, %s at gen %d; before the join the seed had gen %d (%s by %s, %q)",
				n.name, seed.name, up, got[up], r.Gen, r.Phase, r.Origin, r.Reason)
		}
	}
	for up, g := range fleet {
		if got[up] < g {
			s.check.fail("", "restart via a suspect seed below the fleet's generation",
				"%s: after joining %s (suspect, withholds its own trip of %s), %s at gen %d, every other reachable node had gen >= %d",
				n.name, seed.name, up, up, got[up], g)
		}
	}
	s.check.restarted(n.name, got)
	// The others learn the new address for their periodic re-join.
	for _, j := range peers {
		_ = s.nodes[j].join(n.node.Addr())
	}
}
