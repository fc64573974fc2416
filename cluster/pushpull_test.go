package cluster

import (
	"fmt"
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

// TestPushPullFactsOverBudget: facts over the budget go in turns — every
// exchange within the budget and with every breaker, every fact again
// within (facts' bytes ÷ budget) exchanges, a fact written now in each of
// the next exchanges — and each such exchange is counted. Within the
// budget, every fact goes.
func TestPushPullFactsOverBudget(t *testing.T) {
	m := startMember(t, "a", clusterOpts{}, nil, nil)
	defer m.close()
	d := (*delegate)(m.node)
	facts := oldFacts(t, 300)
	total, biggest := 0, 0
	for _, f := range facts {
		m.tb.Merge(f, state.SourceLedger)
		total += factSize(f)
		biggest = max(biggest, factSize(f))
	}
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
	exchange := func() (breakers int, facts map[string]bool) {
		t.Helper()
		facts = map[string]bool{}
		size := 0
		for _, r := range decodeOrFail(t, d.LocalState(false)) {
			if r.IsBreaker() {
				breakers++
				continue
			}
			facts[r.Upstream] = true
			size += factSize(r)
		}
		if size > budget {
			t.Fatalf("an exchange carries %d bytes of facts, over the budget of %d", size, budget)
		}
		return breakers, facts
	}
	need := total/(budget-biggest) + 1
	seen := map[string]bool{}
	for i := range need {
		breakers, got := exchange()
		if breakers != 3 {
			t.Fatalf("exchange %d carries %d breakers, want 3", i, breakers)
		}
		if len(got) < (budget-biggest)/biggest {
			t.Fatalf("exchange %d carries %d facts: the budget is not used", i, len(got))
		}
		for k := range got {
			seen[k] = true
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
		if _, got := exchange(); !got["http://10.0.0.77:8080"] {
			t.Fatalf("exchange %d after a fact was written does not carry it", i)
		}
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
