package cluster

import (
	"testing"
	"time"

	"github.com/proxywhirl/retrycoord/internal/testutil"
	"github.com/proxywhirl/retrycoord/policy"
	"github.com/proxywhirl/retrycoord/state"
)

// fail records n failures of upstream on m.
func fail(t *testing.T, m *member, upstream string, n int) {
	t.Helper()
	for range n {
		tk, err := m.tb.Admit(upstream)
		if err != nil {
			t.Fatalf("%s: admit %s: %v", m.node.Name(), upstream, err)
		}
		m.tb.Settle(tk, state.OutcomeFailure, time.Millisecond)
	}
}

// evidenceSettled waits until each of senders has sent evidence (the
// failures are not still waiting for the next EvidenceInterval tick: a
// wait on "all that was sent arrived" alone holds before anything was
// sent), then until every node has merged every evidence entry the others
// sent.
func evidenceSettled(t *testing.T, ms []*member, senders ...*member) {
	t.Helper()
	testutil.Eventually(t, 5*time.Second, "evidence delivered", func() bool {
		for _, m := range senders {
			if m.node.Stats().EvidenceSent == 0 {
				return false
			}
		}
		var sent uint64
		for _, m := range ms {
			sent += m.node.Stats().EvidenceSent
		}
		for _, m := range ms {
			s := m.node.Stats()
			if s.EvidenceMerged < sent-s.EvidenceSent {
				return false
			}
		}
		return true
	})
}

func TestEvidence(t *testing.T) {
	pol := policy.DefaultBreaker()
	pol.FailureThreshold = 5
	const up = "http://10.0.0.3:8080"

	t.Run("one failure on each of five nodes trips fleet-wide", func(t *testing.T) {
		ms := startCluster(t, 5, clusterOpts{policy: pol})
		for _, m := range ms {
			fail(t, m, up, 1)
		}
		testutil.Eventually(t, 5*time.Second, "open on all", func() bool { return allPhase(ms, up, state.PhaseOpen) })
	})

	t.Run("three and one trip nothing", func(t *testing.T) {
		ms := startCluster(t, 5, clusterOpts{policy: pol})
		fail(t, ms[0], up, 3)
		fail(t, ms[1], up, 1)
		evidenceSettled(t, ms, ms[0], ms[1])
		if !allPhase(ms, up, state.PhaseClosed) {
			t.Fatal("an upstream with 4 failures fleet-wide tripped")
		}
	})

	t.Run("min reporters", func(t *testing.T) {
		pol := pol
		pol.MinReporters = 3
		ms := startCluster(t, 5, clusterOpts{policy: pol})
		fail(t, ms[0], up, 4)
		fail(t, ms[1], up, 1)
		evidenceSettled(t, ms, ms[0], ms[1])
		if !allPhase(ms, up, state.PhaseClosed) {
			t.Fatal("tripped with 2 reporters, MinReporters 3")
		}
		fail(t, ms[2], up, 1)
		testutil.Eventually(t, 5*time.Second, "open on all", func() bool { return allPhase(ms, up, state.PhaseOpen) })
	})
}

func TestPoisonGuard(t *testing.T) {
	ms := startCluster(t, 3, clusterOpts{})
	ups := []string{"http://10.0.1.1:80", "http://10.0.1.2:80", "http://10.0.1.3:80", "http://10.0.1.4:80", "http://10.0.1.5:80", "http://10.0.1.6:80"}
	for _, m := range ms {
		for _, up := range ups {
			tk, _ := m.tb.Admit(up)
			m.tb.Settle(tk, state.OutcomeSuccess, time.Millisecond)
		}
	}
	// Node 0's network breaks: every upstream fails, round after round.
	bad := ms[0]
	for range 5 {
		for _, up := range ups {
			if tk, err := bad.tb.Admit(up); err == nil {
				bad.tb.Settle(tk, state.OutcomeFailure, time.Millisecond)
			}
		}
	}
	for _, up := range ups {
		if bad.tb.State(up) != state.PhaseOpen {
			t.Fatalf("%s not open on the broken node", up)
		}
	}
	testutil.Eventually(t, 5*time.Second, "others see node 0 suspect", func() bool {
		return bad.node.Stats().Suspect && ms[1].node.peers.suspect(bad.node.Name()) && ms[2].node.peers.suspect(bad.node.Name())
	})
	// A marker sent after the trips has arrived: the trips were not sent.
	sendMarker(t, bad, ms)
	evidenceSettled(t, ms)
	wantClosed(t, ms[1:], ups)
	// Push/pull does not carry them either.
	for _, r := range decodeOrFail(t, (*delegate)(bad.node).LocalState(false)) {
		if r.Phase == state.PhaseOpen {
			t.Errorf("LocalState of a suspect node carries its trip of %s", r.Upstream)
		}
	}
	if s := bad.node.Stats(); s.TripsWithheld == 0 {
		t.Errorf("TripsWithheld = 0, want > 0")
	}
}

func TestConfirmTrips(t *testing.T) {
	ms := startCluster(t, 3, clusterOpts{tweak: func(_ int, c *Config) { c.ConfirmTrips = 2 }})
	const up = "http://10.0.2.1:80"
	ms[0].tb.Trip(up, time.Minute, "")
	sendMarker(t, ms[0], ms)
	if ms[1].tb.State(up) != state.PhaseClosed || ms[2].tb.State(up) != state.PhaseClosed {
		t.Fatal("one report opened the upstream with ConfirmTrips 2")
	}
	ms[1].tb.Trip(up, time.Minute, "")
	testutil.Eventually(t, 5*time.Second, "open on all after a second report", func() bool { return allPhase(ms, up, state.PhaseOpen) })
}

func decodeOrFail(t *testing.T, buf []byte) []state.Record {
	t.Helper()
	m, err := decode(buf)
	if err != nil {
		t.Fatal(err)
	}
	return m.records
}
