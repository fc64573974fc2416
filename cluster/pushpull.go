package cluster

import (
	"cmp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/proxywhirl/retrycoord/state"
)

// A push/pull exchange carries every breaker record that is not pristine,
// and the fleet's facts (pool entries and the policy). Facts reach every
// node as they are written (fan-out and gossip); push/pull only repairs
// what those missed. Sent whole, a pool shared as facts would cost every
// exchange 103 bytes an entry, 10 MB at 100,000 entries, and memberlist
// refuses a push/pull state over 20 MiB altogether: past about 200,000
// entries no exchange would succeed, and no restarted node become ready.
// So an exchange carries facts up to a budget: those written lately
// first, then the rest in turn, each exchange going on in key order from
// where the last one stopped, so that every fact is sent again within
// (facts' bytes ÷ budget) exchanges. Within the budget, every fact goes.
const (
	// pushPullFactBudget bounds the facts' bytes of a periodic exchange.
	pushPullFactBudget = 256 << 10
	// joinFactBudget bounds them in a join's exchange, which brings a new
	// node up to date: as much as fits in memberlist's 20 MiB beside the
	// breakers.
	joinFactBudget = 16 << 20
	// recentFact is how old (by its HLC) a fact may be to go first.
	recentFact = 2 * time.Minute
)

// factRotation is where the next exchange goes on sending facts in turn:
// after the fact of this kind and key.
type factRotation struct {
	mu   sync.Mutex
	kind state.Kind
	key  string
}

// pushPullRecords returns what LocalState sends of recs: every breaker
// record, and the facts within the budget (pushPullFactBudget, or
// joinFactBudget for a join; factBudget in tests).
func (n *Node) pushPullRecords(recs []state.Record, join bool, now time.Time) []state.Record {
	budget := int(n.factBudget.Load())
	if budget == 0 {
		budget = pushPullFactBudget
		if join {
			budget = joinFactBudget
		}
	}
	size, nfacts := 0, 0
	for _, r := range recs {
		if !r.IsBreaker() {
			size += factSize(r)
			nfacts++
		}
	}
	if size <= budget {
		return recs // every breaker and every fact
	}
	out := make([]state.Record, 0, len(recs)-nfacts)
	facts := make([]state.Record, 0, nfacts)
	for _, r := range recs {
		if r.IsBreaker() {
			out = append(out, r)
		} else {
			facts = append(facts, r)
		}
	}
	n.stats.pushPullFactsCut.Add(1)
	return append(out, n.rotation.take(facts, budget, now)...)
}

// take returns facts within budget bytes: those written within recentFact
// of now first, in key order, up to half the budget; then the others in
// key order from where the last call stopped, wrapping around.
func (fr *factRotation) take(facts []state.Record, budget int, now time.Time) []state.Record {
	slices.SortFunc(facts, compareFacts)
	var out []state.Record
	used := 0
	taken := make([]bool, len(facts))
	for i, r := range facts {
		s := factSize(r)
		if now.Sub(r.HLC.Time()) < recentFact && used+s <= budget/2 {
			out, used, taken[i] = append(out, r), used+s, true
		}
	}
	fr.mu.Lock()
	defer fr.mu.Unlock()
	start, _ := slices.BinarySearchFunc(facts, state.Record{Kind: fr.kind, Upstream: fr.key}, compareFacts)
	if start < len(facts) && compareFacts(facts[start], state.Record{Kind: fr.kind, Upstream: fr.key}) == 0 {
		start++ // the cursor's own fact went last time
	}
	for j := range len(facts) {
		i := (start + j) % len(facts)
		if taken[i] {
			continue
		}
		s := factSize(facts[i])
		if used+s > budget {
			break
		}
		out, used = append(out, facts[i]), used+s
		fr.kind, fr.key = facts[i].Kind, facts[i].Upstream
	}
	return out
}

// compareFacts orders facts by kind, then key.
func compareFacts(a, b state.Record) int {
	return cmp.Or(cmp.Compare(a.Kind, b.Kind), strings.Compare(a.Upstream, b.Upstream))
}

// factSize is about what a fact takes encoded: its strings and value and,
// generously, the fixed fields and length prefixes.
func factSize(r state.Record) int {
	return 24 + len(r.Upstream) + len(r.Site) + len(r.Origin) + len(r.Reason) + len(r.Value)
}
