package integration

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"time"

	gocmp "github.com/google/go-cmp/cmp"
	"github.com/proxywhirl/retrycoord/state"
)

// The soak's invariants. The checker is called from the soak's one driving
// goroutine; it is not safe for concurrent use.

// violation is one broken invariant, with enough detail to debug it.
type violation struct {
	at   time.Duration // since the soak started
	kind string
	what string
}

// elapsedKey identifies one open period of one breaker on one node.
type elapsedKey struct {
	node string
	up   string
	gen  uint64
	hlc  state.HLC
}

type checker struct {
	start      time.Time
	grace      time.Duration // ProbeGrace of the soak policy
	healthy    map[string]bool
	poisoned   string
	violations []violation
	seen       map[string]bool // deduplicates repeated reports of one fault

	maxGen  map[string]map[string]uint64 // node → upstream → highest Gen seen
	elapsed map[elapsedKey]time.Time     // first time an open record had no open time left
}

func newChecker(start time.Time, grace time.Duration, healthy []string, poisoned string) *checker {
	c := &checker{
		start: start, grace: grace, poisoned: poisoned,
		healthy: map[string]bool{}, seen: map[string]bool{},
		maxGen: map[string]map[string]uint64{}, elapsed: map[elapsedKey]time.Time{},
	}
	for _, h := range healthy {
		c.healthy[h] = true
	}
	return c
}

// fail records a violation once per dedup key ("" never deduplicates).
func (c *checker) fail(dedup, kind, format string, args ...any) {
	if dedup != "" {
		if c.seen[dedup] {
			return
		}
		c.seen[dedup] = true
	}
	c.violations = append(c.violations, violation{at: time.Since(c.start).Round(time.Millisecond), kind: kind, what: fmt.Sprintf(format, args...)})
}

// restarted resets a node's generation floor to what its seed held before
// the join: a fresh table starts empty, but after its first sync it must
// hold at least that.
//
// It also forgets when the old process saw open records run out of open
// time: the new process counts each open time from its own merge of the
// record (OpenFor is relative, DESIGN §3), so its probes are due later.
func (c *checker) restarted(name string, floor map[string]uint64) {
	c.maxGen[name] = floor
	for k := range c.elapsed {
		if k.node == name {
			delete(c.elapsed, k)
		}
	}
}

// scan checks every node's records: no generation goes backwards, no
// healthy upstream is anything but closed on a node other than the poisoned
// one; and it notes when open records ran out of open time.
func (c *checker) scan(nodes []*soakNode) {
	now := time.Now()
	for _, n := range nodes {
		gens := c.maxGen[n.name]
		if gens == nil {
			gens = map[string]uint64{}
			c.maxGen[n.name] = gens
		}
		for _, r := range n.tb.Snapshot() {
			if r.Kind != state.KindBreaker {
				continue
			}
			key := r.Key().String() // a proxy, a pair or a site
			if prev := gens[key]; r.Gen < prev {
				c.fail(fmt.Sprintf("gen/%s/%s/%d", n.name, key, prev), "generation went backwards",
					"%s: %s at gen %d (%s by %s), had gen %d", n.name, key, r.Gen, r.Phase, r.Origin, prev)
			} else {
				gens[key] = r.Gen
			}
			if r.Site == "" && c.healthy[r.Upstream] && n.name != c.poisoned && r.Phase != state.PhaseClosed {
				c.fail(fmt.Sprintf("poison/%s/%s/%d/%d", n.name, r.Upstream, r.Gen, r.Phase), "poison guard: healthy upstream "+r.Phase.String()+" on a healthy node",
					"%s: healthy %s is %s (gen %d, origin %s, reason %q)", n.name, r.Upstream, r.Phase, r.Gen, r.Origin, r.Reason)
			}
			if r.Phase == state.PhaseOpen && r.OpenFor == 0 {
				k := elapsedKey{n.name, key, r.Gen, r.HLC}
				if _, ok := c.elapsed[k]; !ok {
					c.elapsed[k] = now
				}
			}
		}
	}
}

// refused checks one Admit that returned ErrOpen: when the breaker was open,
// unchanged across the call, and its open time had run out more than
// ProbeGrace ago (as seen by scan), any node may probe, so it must have been
// admitted.
func (c *checker) refused(n *soakNode, before, after state.Record) {
	if before.Phase != state.PhaseOpen || after.Phase != state.PhaseOpen ||
		before.Gen != after.Gen || before.HLC != after.HLC || before.Origin != after.Origin {
		return
	}
	key := before.Key().String()
	t0, ok := c.elapsed[elapsedKey{n.name, key, before.Gen, before.HLC}]
	if !ok || time.Since(t0) < c.grace+100*time.Millisecond {
		return
	}
	c.fail(fmt.Sprintf("grace/%s/%s/%d", n.name, key, before.Gen), "open past open time + grace",
		"%s: %s open (gen %d by %s) for %v after its open time ran out, and Admit refused a probe",
		n.name, key, before.Gen, before.Origin, time.Since(t0).Round(time.Millisecond))
}

// forget drops the bookkeeping of open periods (between rounds).
func (c *checker) forget() { clear(c.elapsed) }

// normalized returns a node's records sorted by kind and key, without the
// open time remaining (which drifts between two reads).
func normalized(tb *state.Table) []state.Record {
	recs := tb.Snapshot()
	for i := range recs {
		recs[i].OpenFor = 0
	}
	slices.SortFunc(recs, func(a, b state.Record) int {
		return cmp.Or(cmp.Compare(a.Kind, b.Kind), strings.Compare(a.Upstream, b.Upstream), strings.Compare(a.Site, b.Site))
	})
	return recs
}

// disagreement returns "" when every node holds the same records, else a
// description of the first difference found.
func disagreement(nodes []*soakNode) string {
	want := normalized(nodes[0].tb)
	for _, n := range nodes[1:] {
		if d := gocmp.Diff(want, normalized(n.tb)); d != "" {
			return fmt.Sprintf("%s vs %s (-%s +%s):\n%s", nodes[0].name, n.name, nodes[0].name, n.name, d)
		}
	}
	return ""
}

// notClosed lists the breakers that are not closed on some node.
func notClosed(nodes []*soakNode) []string {
	var out []string
	for _, n := range nodes {
		for _, r := range n.tb.Snapshot() {
			if r.Kind == state.KindBreaker && r.Phase != state.PhaseClosed {
				out = append(out, fmt.Sprintf("%s: %s %s gen %d by %s (%q, open for %v)", n.name, r.Key(), r.Phase, r.Gen, r.Origin, r.Reason, r.OpenFor.Round(time.Millisecond)))
			}
		}
	}
	return out
}

// gensOf returns an upstream → Gen map of a table's breakers.
func gensOf(tb *state.Table) map[string]uint64 {
	out := map[string]uint64{}
	for _, r := range tb.Snapshot() {
		if r.Kind == state.KindBreaker {
			out[r.Key().String()] = r.Gen
		}
	}
	return out
}

// joinFloor returns the generations a node must hold once its join to seed
// returned. shared is the seed's records as the seed sends them: a seed
// that suspects its own network (the poisoned node) withholds its own open
// and half-open records, by design, and sends what the fleet held instead. fleet covers what that withholds: for each such
// upstream, the generation every other reachable node already holds (their
// minimum), which the seed itself held before its trip (so at most the
// trip's Gen-1). Both are taken before the join; tables only grow.
func joinFloor(seed *soakNode, suspect bool, others []*soakNode) (shared map[string]state.Record, fleet map[string]uint64) {
	shared, fleet = map[string]state.Record{}, map[string]uint64{}
	for _, r := range seed.tb.Snapshot() {
		if r.Kind != state.KindBreaker {
			continue
		}
		key := r.Key().String()
		if !suspect || r.Origin != seed.name || r.Phase == state.PhaseClosed {
			shared[key] = r
			continue
		}
		if len(others) == 0 {
			continue
		}
		floor := r.Gen - 1
		for _, o := range others {
			g := uint64(0)
			if rec, ok := o.tb.RecordAt(r.Key()); ok {
				g = rec.Gen
			}
			floor = min(floor, g)
		}
		if floor > 0 {
			fleet[key] = floor
		}
	}
	return shared, fleet
}
