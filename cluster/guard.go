package cluster

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/proxywhirl/retrycoord/state"
)

// guard is the poison guard and the trip confirmation of DESIGN §4 item 7.
//
// A node that sees most of its pool fail at once suspects its own network:
// it keeps its local breakers but stops sending its trips and evidence, and
// says so in its node metadata so that the others ignore what it sent. An
// upstream counts as failing here when this node's failures opened its
// breaker, or it has at least half FailureThreshold failures of its own in
// the window, so that the guard engages on the first trip of a pool-wide
// outage rather than after a few trips have escaped. An operator's trips
// neither count nor are withheld.
type guard struct {
	n       *Node
	suspect atomic.Bool

	mu      sync.Mutex              // guards pending
	pending map[string]*pendingTrip // upstream → remote trips awaiting confirmation
}

type pendingTrip struct {
	since     time.Time
	reporters map[string]struct{}
	best      state.Record
}

// maxPending bounds the trips awaiting confirmation.
const maxPending = 10_000

func (g *guard) init(n *Node) {
	g.n = n
	g.pending = make(map[string]*pendingTrip)
}

// evaluate recomputes whether this node suspects its own network, updates
// the metadata when that changed, and returns it. It costs a pass over the
// table: it runs on own trips and periodically while suspect.
func (g *guard) evaluate() bool {
	cfg := &g.n.cfg
	if cfg.PoisonMinUpstreams < 0 {
		return false
	}
	pol := g.n.store.Policy()
	failing, active := g.n.store.OwnFailing(max(1, pol.FailureThreshold/2))
	s := failing >= cfg.PoisonMinUpstreams && float64(failing) >= cfg.PoisonRatio*float64(active)
	if g.suspect.Swap(s) != s {
		g.n.peers.setSelfSuspect(s)
		if s {
			g.n.log.Warn("poison guard: most upstreams fail at once here; suspecting own network, trips and evidence stay local",
				"failing", failing, "active", active)
		} else {
			g.n.log.Info("poison guard: recovered; sending trips and evidence again", "failing", failing, "active", active)
		}
		g.n.metaChanged()
	}
	return s
}

// withholdOwnTrips removes this node's own open records.
func (g *guard) withholdOwnTrips(recs []state.Record) []state.Record {
	out := recs[:0]
	for _, r := range recs {
		if g.ownTrip(r) {
			continue
		}
		out = append(out, r)
	}
	return out
}

// ownTrip reports whether r is a trip this node's own failures made: what
// the guard withholds while it suspects the node's network. An operator's
// trip is not one.
func (g *guard) ownTrip(r state.Record) bool {
	return (r.Kind == state.KindBreaker || r.Kind == 0) && r.Phase == state.PhaseOpen && r.Origin == g.n.name &&
		!g.n.store.OperatorTrip(r.Upstream, r.Gen)
}

// confirm decides on a remote trip under ConfirmTrips: it returns the record
// to merge and true once enough distinct nodes (this one included, when it
// opened the upstream itself) reported the upstream open.
func (g *guard) confirm(r state.Record, now time.Time) (state.Record, bool) {
	k := g.n.cfg.ConfirmTrips
	if k <= 1 {
		return r, true
	}
	cur, ok := g.n.store.Record(r.Upstream)
	if ok && cur.Phase != state.PhaseClosed && cur.Gen >= r.Gen {
		return r, true // nothing new to adopt; the merge settles the order
	}
	window := g.n.store.Policy().Window
	g.mu.Lock()
	defer g.mu.Unlock()
	p := g.pending[r.Upstream]
	if p != nil && now.Sub(p.since) > window {
		p = nil
	}
	if p == nil {
		if len(g.pending) >= maxPending {
			return r, false
		}
		p = &pendingTrip{since: now, reporters: map[string]struct{}{}, best: r}
		g.pending[r.Upstream] = p
	}
	p.reporters[r.Origin] = struct{}{}
	p.best = state.Max(p.best, r)
	count := len(p.reporters)
	if _, self := p.reporters[g.n.name]; !self && ok && cur.Phase == state.PhaseOpen && cur.Origin == g.n.name {
		count++
	}
	if count < k {
		return r, false
	}
	delete(g.pending, r.Upstream)
	return p.best, true
}

// prune forgets unconfirmed trips older than the window.
func (g *guard) prune(now time.Time) {
	window := g.n.store.Policy().Window
	g.mu.Lock()
	for up, p := range g.pending {
		if now.Sub(p.since) > window {
			delete(g.pending, up)
		}
	}
	g.mu.Unlock()
}
