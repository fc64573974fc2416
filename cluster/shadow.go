package cluster

import "github.com/proxywhirl/retrycoord/state"

// shadow is what the poison guard remembers of one upstream.
type shadow struct {
	// withheld is the generation of this node's own records the guard
	// withheld (0: none). Every later own non-closed record of that
	// generation stays withheld, even once the guard recovered: the fleet
	// never saw that generation open, so neither its half-open record nor
	// the open one (by push/pull) may reach it. It is cleared when the
	// table moves past it.
	withheld uint64
}

// maxShadows bounds the upstreams the guard remembers. Beyond it records
// are still withheld, but a recovered node may publish the later records
// of a withheld generation.
const maxShadows = 100_000

// hold decides on one of this node's own non-closed records (ownRecord): it
// is withheld while the node is suspect, and when its generation was
// withheld before.
func (g *guard) hold(r state.Record, suspect bool) bool {
	g.shadowMu.Lock()
	defer g.shadowMu.Unlock()
	sh, ok := g.shadows[r.Upstream]
	if !suspect && (!ok || sh.withheld != r.Gen) {
		return false
	}
	if ok || len(g.shadows) < maxShadows {
		sh.withheld = r.Gen
		g.shadows[r.Upstream] = sh
	}
	return true
}

// moved notes that an upstream's record in the table moved past what the
// guard withheld: this node shared a record of it, or merged a remote one
// that changed the table.
func (g *guard) moved(r state.Record) {
	if !isBreaker(r) {
		return
	}
	g.shadowMu.Lock()
	delete(g.shadows, r.Upstream)
	g.shadowMu.Unlock()
}

// withholdOwn removes from a push/pull snapshot this node's own non-closed
// records that hold would withhold.
func (g *guard) withholdOwn(recs []state.Record) []state.Record {
	suspect := g.suspect.Load()
	out := recs[:0]
	g.shadowMu.Lock()
	defer g.shadowMu.Unlock()
	for _, r := range recs {
		if r.Origin == g.n.name && isBreaker(r) && r.Phase != state.PhaseClosed {
			if sh, ok := g.shadows[r.Upstream]; suspect && g.ownRecord(r) || ok && sh.withheld == r.Gen {
				continue
			}
		}
		out = append(out, r)
	}
	return out
}
