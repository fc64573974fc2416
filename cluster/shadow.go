package cluster

import (
	"time"

	"github.com/proxywhirl/retrycoord/state"
)

// shadow is what the poison guard remembers of one upstream.
type shadow struct {
	// rec is the greatest breaker record this node shared (published
	// without withholding it) or merged from another node: a record the
	// fleet may hold. While this node withholds its own record, push/pull
	// sends rec instead, so that a node joining through a suspect node
	// still starts from the fleet's generation (soak finding 4).
	rec state.Record
	at  time.Time // when rec was taken: its OpenFor is relative to it
	// withheld is the generation of this node's own records the guard
	// withheld (0: none). Every later own non-closed record of that
	// generation stays withheld, even once the guard recovered: the fleet
	// never saw that generation open, so neither its half-open record nor
	// the open one (by push/pull) may reach it. It is cleared when the
	// table moves past it.
	withheld uint64
}

// maxShadows bounds the upstreams the guard remembers (one entry per
// upstream that has a record). Beyond it records are still withheld, but
// push/pull carries nothing for them instead, and a recovered node may
// publish the later records of a withheld generation.
const maxShadows = 100_000

// hold decides on one of this node's own non-closed records (ownRecord): it
// is withheld while the node is suspect, and when its generation was
// withheld before.
func (g *guard) hold(r state.Record, suspect bool) bool {
	g.shadowMu.Lock()
	defer g.shadowMu.Unlock()
	sh, ok := g.shadows[r.Key()]
	if !suspect && (!ok || sh.withheld != r.Gen) {
		return false
	}
	if ok || len(g.shadows) < maxShadows {
		sh.withheld = r.Gen
		g.shadows[r.Key()] = sh
	}
	return true
}

// shared notes a breaker record this node sent to the fleet or merged from
// it; moved reports that the table now holds it (a record this node
// published, or a remote one that changed the table), past what the guard
// withheld.
func (g *guard) shared(r state.Record, now time.Time, moved bool) {
	if !r.IsBreaker() {
		return
	}
	g.shadowMu.Lock()
	defer g.shadowMu.Unlock()
	sh, ok := g.shadows[r.Key()]
	if !ok && len(g.shadows) >= maxShadows {
		return
	}
	if !ok || state.Compare(r, sh.rec) > 0 {
		sh.rec, sh.at = r, now
	}
	if moved {
		sh.withheld = 0
	}
	g.shadows[r.Key()] = sh
}

// withholdOwn edits a push/pull snapshot: this node's own non-closed
// records that hold would withhold are replaced by their shadow record
// (what the fleet already holds), or removed when there is none.
func (g *guard) withholdOwn(recs []state.Record, now time.Time) []state.Record {
	suspect := g.suspect.Load()
	out := recs[:0]
	g.shadowMu.Lock()
	defer g.shadowMu.Unlock()
	for _, r := range recs {
		if g.ownSnapshotRecord(r) {
			sh, ok := g.shadows[r.Key()]
			if suspect || ok && sh.withheld == r.Gen {
				if !ok || sh.rec.Gen == 0 && sh.rec.HLC == 0 {
					continue
				}
				r = sh.rec
				if r.Phase == state.PhaseOpen {
					r.OpenFor = max(0, r.OpenFor-now.Sub(sh.at))
				}
			}
		}
		out = append(out, r)
	}
	return out
}
