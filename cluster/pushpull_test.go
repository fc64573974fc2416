package cluster

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/proxywhirl/retrycoord/internal/testutil"
	"github.com/proxywhirl/retrycoord/state"
)

// oldFacts returns n pool facts written an hour ago by another node.
func oldFacts(t *testing.T, n int) []state.Record {
	t.Helper()
	hourAgo := time.Now().Add(-time.Hour)
	other, err := state.NewTable(state.Config{Node: "other", Now: func() time.Time { return hourAgo }})
	if err != nil {
		t.Fatal(err)
	}
	out := make([]state.Record, n)
	for i := range out {
		u := fmt.Sprintf("http://10.0.%d.%d:8080", i/256, i%256)
		out[i] = other.PutFact(state.KindPool, u, []byte(`{"url":"`+u+`","meta":{"region":"eu"}}`))
	}
	return out
}

// encodedSize is what facts take in a push/pull state, as the codec
// writes them.
func encodedSize(facts []state.Record) int { return len(encodeRecords(facts)) - headerLen }

// TestPushPullFactsOverBudget: facts over the budget go in turns — every
// exchange within the budget (encoded) but using at least half of it, and
// with every breaker; no fact again before every other has gone, so every
// fact within (facts' bytes ÷ half the budget) exchanges; a fact written
// now in each of the next exchanges, while many written now leave the
// older ones going in turns — and each such exchange is counted. Within
// the budget, every fact goes.
func TestPushPullFactsOverBudget(t *testing.T) {
	m := startMember(t, "a", clusterOpts{}, nil, nil)
	defer m.close()
	d := (*delegate)(m.node)
	facts := oldFacts(t, 300)
	for _, f := range facts {
		m.tb.Merge(f, state.SourceLedger)
	}
	total := encodedSize(facts)
	for i := range 3 {
		m.tb.Trip(fmt.Sprintf("http://tripped%d:1", i), time.Minute, "test")
	}

	// Within the budget (the default, and a join's): everything.
	for _, join := range []bool{false, true} {
		if got := decodeOrFail(t, d.LocalState(join)); len(got) != 303 {
			t.Fatalf("LocalState(join=%v) carries %d records within the budget, want 303", join, len(got))
		}
	}
	if n := m.node.Stats().PushPullFactsCut; n != 0 {
		t.Fatalf("PushPullFactsCut = %d within the budget", n)
	}

	const budget = 4096
	m.node.factBudget.Store(budget)
	exchange := func() (breakers int, facts []state.Record) {
		t.Helper()
		for _, r := range decodeOrFail(t, d.LocalState(false)) {
			if r.IsBreaker() {
				breakers++
			} else {
				facts = append(facts, r)
			}
		}
		if size := encodedSize(facts); size > budget {
			t.Fatalf("an exchange carries %d bytes of facts, over the budget of %d", size, budget)
		}
		return breakers, facts
	}
	need := (total + budget/2 - 1) / (budget / 2)
	seen := map[string]bool{}
	for i := range need {
		breakers, got := exchange()
		if breakers != 3 {
			t.Fatalf("exchange %d carries %d breakers, want 3", i, breakers)
		}
		if size := encodedSize(got); size < budget/2 {
			t.Fatalf("exchange %d carries %d bytes of facts: less than half the budget", i, size)
		}
		fresh := 0
		for _, r := range got {
			if !seen[r.Upstream] {
				fresh++
				seen[r.Upstream] = true
			}
		}
		if fresh < len(got) && len(seen) < len(facts) {
			t.Fatalf("exchange %d sends %d facts again while %d have not gone yet", i, len(got)-fresh, len(facts)-len(seen))
		}
	}
	if len(seen) != len(facts) {
		t.Fatalf("%d exchanges carried %d of the %d facts, want all", need, len(seen), len(facts))
	}
	if n := m.node.Stats().PushPullFactsCut; n != uint64(need) {
		t.Errorf("PushPullFactsCut = %d, want %d", n, need)
	}

	// A fact written now goes in each of the next exchanges, not in its
	// turn only.
	m.tb.PutFact(state.KindPool, "http://10.0.0.77:8080", []byte(`{"url":"http://10.0.0.77:8080"}`))
	for i := range 3 {
		_, got := exchange()
		if !slices.ContainsFunc(got, func(r state.Record) bool { return r.Upstream == "http://10.0.0.77:8080" }) {
			t.Fatalf("exchange %d after a fact was written does not carry it", i)
		}
	}

	// Many written now go first up to half of an exchange: the older ones
	// still go in turns, every one within twice the exchanges.
	for i := range 100 {
		u := fmt.Sprintf("http://10.1.0.%d:8080", i)
		m.tb.PutFact(state.KindPool, u, []byte(`{"url":"`+u+`","meta":{"region":"eu"}}`))
	}
	old := map[string]bool{}
	for _, f := range facts {
		old[f.Upstream] = true
	}
	seenOld := map[string]bool{}
	for range 2 * need {
		_, got := exchange()
		for _, r := range got {
			if old[r.Upstream] {
				seenOld[r.Upstream] = true
			}
		}
	}
	if len(seenOld) != len(old) {
		t.Fatalf("with many facts written now, %d exchanges carried %d of the %d older facts", 2*need, len(seenOld), len(old))
	}
}

// TestFactsOverBudgetReachAnotherNode: facts that only push/pull carries
// (merged from the ledger: the cluster does not send them on), far over
// a node's budget, all reach the other node in turns.
func TestFactsOverBudgetReachAnotherNode(t *testing.T) {
	ms := startCluster(t, 2, clusterOpts{})
	ms[0].node.factBudget.Store(8192)
	facts := oldFacts(t, 400)
	for _, f := range facts {
		ms[0].tb.Merge(f, state.SourceLedger)
	}
	testutil.Eventually(t, 30*time.Second, "every fact on node 1", func() bool {
		return len(ms[1].tb.Facts(state.KindPool)) == len(facts)
	})
	if ms[0].node.Stats().PushPullFactsCut == 0 {
		t.Fatal("node 0 never cut its facts to the budget: the case is not tested")
	}
}

// TestFactRotationWrapsAround: when the fact the last exchange stopped at
// is gone and was the last in order, the next exchange starts again from
// the first.
func TestFactRotationWrapsAround(t *testing.T) {
	facts := oldFacts(t, 3)
	fr := &factRotation{kind: state.KindPool, key: "http://10.0.9.9:8080"} // after every fact, and not one of them
	got := fr.take(facts, factSize(facts[0])+factSize(facts[1]), time.Now())
	if len(got) != 2 || got[0].Upstream != facts[0].Upstream || got[1].Upstream != facts[1].Upstream {
		t.Fatalf("take after a cursor past the end = %v, want the first two facts", got)
	}
}
