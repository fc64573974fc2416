package cluster

import (
	"fmt"
	"testing"
	"time"

	"github.com/proxywhirl/retrycoord/internal/testutil"
	"github.com/proxywhirl/retrycoord/state"
)

// TestPoisonGuardBoundaries: an upstream counts as failing here when this
// node's own failures opened it or reached half FailureThreshold (5: two
// failures) in the window, and the guard engages when at least
// PoisonMinUpstreams (3) upstreams fail and they are at least PoisonRatio
// (0.5) of those it calls. Partial failures, at and just below each
// boundary.
func TestPoisonGuardBoundaries(t *testing.T) {
	for _, tc := range []struct {
		name    string
		active  int   // upstreams called, each once with success first
		failing []int // own failures per upstream (5 trips it)
		want    bool
	}{
		{"one trip and three at half the threshold, 4 of 8", 8, []int{5, 2, 2, 2}, true},
		{"one of them a failure short of half, 3 of 8", 8, []int{5, 2, 2, 1}, false},
		{"no trip, four at half the threshold, 4 of 8", 8, []int{2, 2, 2, 2}, true},
		{"exactly at the ratio, 3 of 6", 6, []int{5, 2, 2}, true},
		{"just below the ratio, 4 of 9", 9, []int{5, 2, 2, 2}, false},
		{"below PoisonMinUpstreams, 2 of 2", 2, []int{5, 2}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ms := startCluster(t, 1, clusterOpts{})
			m := ms[0]
			ups := testUpstreams("10.0.13", tc.active)
			for _, up := range ups {
				tk, err := m.tb.Admit(up)
				if err != nil {
					t.Fatal(err)
				}
				m.tb.Settle(tk, state.OutcomeSuccess, time.Millisecond)
			}
			for i, n := range tc.failing {
				fail(t, m, ups[i], n)
			}
			if got := m.node.guard.evaluate(); got != tc.want {
				failing, active := m.tb.OwnFailing(2)
				t.Errorf("suspect = %v, want %v (OwnFailing(2) = %d of %d)", got, tc.want, failing, active)
			}
			// The verdict takes effect at once: the node leaves (or stays
			// among) the probe candidates.
			if got := m.node.peers.selfSus.Load(); got != tc.want {
				t.Errorf("probe candidates: self suspect %v, want %v", got, tc.want)
			}
		})
	}
}

// TestSuspectNeverOwnsProbe: a suspect node owns no probe, neither in its
// own view nor in its peers': the upstream below is one whose rendezvous
// owner among all three members is the node that turns suspect.
func TestSuspectNeverOwnsProbe(t *testing.T) {
	ms := startCluster(t, 3, clusterOpts{})
	bad := ms[0]
	names := []string{ms[0].node.Name(), ms[1].node.Name(), ms[2].node.Name()}
	var up string
	for i := range 1000 {
		if u := fmt.Sprintf("http://10.0.14.%d:80", i); owner(u, names) == bad.node.Name() {
			up = u
			break
		}
	}
	if up == "" {
		t.Fatal("no upstream owned by node-00")
	}
	testutil.Eventually(t, 5*time.Second, "node-00 owns the probe while healthy", func() bool {
		return bad.node.ownsProbe(up) && !ms[1].node.ownsProbe(up) && !ms[2].node.ownsProbe(up)
	})
	breakNode(t, bad, testUpstreams("10.0.15", 4))
	testutil.Eventually(t, 5*time.Second, "others see node-00 suspect", func() bool {
		return bad.node.Stats().Suspect && ms[1].node.peers.suspect(bad.node.Name()) && ms[2].node.peers.suspect(bad.node.Name())
	})
	if bad.node.ownsProbe(up) {
		t.Error("the suspect node-00 owns the probe in its own view")
	}
	for _, m := range ms[1:] {
		if o := owner(up, *m.node.peers.candidates.Load()); o == bad.node.Name() {
			t.Errorf("%s sees the suspect node-00 as the probe owner", m.node.Name())
		}
	}
	if ms[1].node.ownsProbe(up) == ms[2].node.ownsProbe(up) {
		t.Errorf("healthy owners: node-01 %v, node-02 %v; want exactly one", ms[1].node.ownsProbe(up), ms[2].node.ownsProbe(up))
	}
}

// TestSuspectNodesEvidenceIgnored: the receiver drops evidence whose
// origin advertises itself as suspect, however much it counts; the same
// evidence from a healthy member trips (the control).
func TestSuspectNodesEvidenceIgnored(t *testing.T) {
	ms := startCluster(t, 3, clusterOpts{})
	bad, m := ms[0], ms[1]
	breakNode(t, bad, testUpstreams("10.0.16", 4))
	testutil.Eventually(t, 5*time.Second, "node-01 sees node-00 suspect", func() bool { return m.node.peers.suspect(bad.node.Name()) })
	up := "http://10.0.17.1:80"
	evs := []state.Evidence{{Upstream: up, Buckets: []state.EvidenceBucket{{Index: time.Now().UnixNano() / int64(time.Second), Failures: 10, Calls: 10}}}}
	before := m.node.Stats()
	m.node.mergeEvidence(bad.node.Name(), evs)
	after := m.node.Stats()
	if m.tb.State(up) != state.PhaseClosed || after.EvidenceMerged != before.EvidenceMerged || after.SuspectIgnored != before.SuspectIgnored+1 {
		t.Fatalf("evidence of the suspect node-00: %v, merged %d→%d, ignored %d→%d; want closed, none merged, one ignored",
			m.tb.State(up), before.EvidenceMerged, after.EvidenceMerged, before.SuspectIgnored, after.SuspectIgnored)
	}
	m.node.mergeEvidence(ms[2].node.Name(), evs)
	if m.tb.State(up) != state.PhaseOpen {
		t.Fatalf("the same evidence from the healthy node-02: %v, want open", m.tb.State(up))
	}
}

// TestConfirmAdoptsWhatIsAlreadyOpen: under ConfirmTrips, a remote open of
// a generation this node already holds open is merged at once (the merge
// orders the two), while an open of a newer generation waits for a second
// reporter, which this node is when it holds its own open.
func TestConfirmAdoptsWhatIsAlreadyOpen(t *testing.T) {
	ms := startCluster(t, 1, clusterOpts{tweak: func(_ int, c *Config) { c.ConfirmTrips = 2 }})
	m := ms[0]
	const up = "http://10.0.18.1:80"
	held := state.Record{Kind: state.KindBreaker, Upstream: up, Gen: 1, Phase: state.PhaseOpen, HLC: state.NewHLC(time.Now().UnixMilli(), 0), Origin: "x", OpenFor: time.Minute}
	m.tb.Merge(held, state.SourceGossip)
	same := held
	same.Origin, same.HLC = "y", held.HLC+1
	if _, ok := m.node.guard.confirm(same, time.Now()); !ok {
		t.Error("an open of the generation already held open waits for confirmation")
	}
	next := same
	next.Gen = 2
	if _, ok := m.node.guard.confirm(next, time.Now()); ok {
		t.Error("an open of a newer generation was adopted on one report")
	}
	// This node's own open counts as a report: one more is enough.
	const own = "http://10.0.18.2:80"
	mine := m.tb.Trip(own, time.Minute, "")
	theirs := state.Record{Kind: state.KindBreaker, Upstream: own, Gen: mine.Gen + 1, Phase: state.PhaseOpen, HLC: mine.HLC + 1, Origin: "y", OpenFor: time.Minute}
	if _, ok := m.node.guard.confirm(theirs, time.Now()); !ok {
		t.Error("a newer open, reported by one node while this node holds its own open, waits for confirmation")
	}
}
