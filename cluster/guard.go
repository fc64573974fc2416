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
// outage rather than after a few trips have escaped. The ratio is taken
// over the upstreams this node calls: not those another node's record
// holds open. An operator's trips neither count nor are withheld.
type guard struct {
	n       *Node
	suspect atomic.Bool

	mu      sync.Mutex                 // guards pending
	pending map[state.Key]*pendingTrip // breaker → remote trips awaiting confirmation

	shadowMu sync.Mutex           // guards shadows
	shadows  map[state.Key]shadow // breaker → what the fleet may hold (shadow.go)
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
	g.pending = make(map[state.Key]*pendingTrip)
	g.shadows = make(map[state.Key]shadow)
}

// evaluate recomputes whether this node suspects its own network, updates
// the metadata when that changed, and returns it. It costs a pass over the
// table: it runs on own trips and periodically while suspect.
func (g *guard) evaluate() bool {
	cfg := &g.n.cfg
	if cfg.PoisonMinUpstreams < 0 {
		return false
	}
	pol := g.n.tb.Policy()
	failing, active := g.n.tb.OwnFailing(max(1, pol.FailureThreshold/2))
	// An upstream another node's record holds open or half-open is not
	// called here: this node sees it neither fail nor succeed. Counted as
	// active it would dilute the ratio, and a broken node would release
	// the guard (and publish its trips) whenever the fleet holds enough of
	// the rest of the pool open.
	active = max(failing, active-g.heldByOthers())
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

// due reports whether a batch of this node's evidence alone holds
// PoisonMinUpstreams proxies with at least the own failures that make an
// upstream count as failing (half FailureThreshold): the guard may have
// to engage before the batch is sent. It reads only the batch.
func (g *guard) due(evs []state.Evidence) bool {
	mark := uint32(max(1, g.n.tb.Policy().FailureThreshold/2))
	n := 0
	for _, ev := range evs {
		if ev.Site != "" {
			continue // OwnFailing counts proxies only
		}
		var f uint32
		for _, b := range ev.Buckets {
			f += b.Failures
		}
		if f >= mark {
			if n++; n >= g.n.cfg.PoisonMinUpstreams {
				return true
			}
		}
	}
	return false
}

// ownRecord reports whether a transition carries a breaker record this
// node's own failures made and that is not closed: an open record (a trip)
// or a half-open one (this node probing after its own trip, or after
// adopting a trip). While the guard suspects the node's network it
// withholds these: a half-open record at a generation the fleet never saw
// beats the fleet's closed record of the generation before and stops every
// healthy node from calling the upstream for ProbeLease+ProbeGrace (soak
// finding 1). An operator's trip (SourceManual) is not one: it says nothing
// about this node's network.
func (g *guard) ownRecord(tr state.Transition) bool {
	r := tr.Record
	return r.IsBreaker() && r.Origin == g.n.name && r.Phase != state.PhaseClosed && tr.Source != state.SourceManual
}

// ownSnapshotRecord is ownRecord for a record of the Table's snapshot,
// which comes without its Source: any non-closed breaker record of this
// node's. withholdOwn then sends what the fleet holds in its place, which
// for an operator's trip (never withheld, so shared) is the trip itself.
func (g *guard) ownSnapshotRecord(r state.Record) bool {
	return r.IsBreaker() && r.Origin == g.n.name && r.Phase != state.PhaseClosed
}

// heldByOthers counts the proxies whose breaker another node's record
// holds open or half-open (pairs and sites are not upstreams: OwnFailing
// counts proxies only).
func (g *guard) heldByOthers() int {
	held := 0
	for _, r := range g.n.tb.Snapshot() {
		if r.IsBreaker() && r.Site == "" && r.Phase != state.PhaseClosed && r.Origin != g.n.name {
			held++
		}
	}
	return held
}

// confirm decides on a remote trip under ConfirmTrips: it returns the record
// to merge and true once enough distinct nodes (this one included, when it
// opened the upstream itself) reported the upstream open.
func (g *guard) confirm(r state.Record, now time.Time) (state.Record, bool) {
	k := g.n.cfg.ConfirmTrips
	if k <= 1 {
		return r, true
	}
	cur, ok := g.n.tb.RecordAt(r.Key())
	if ok && cur.Phase != state.PhaseClosed && cur.Gen >= r.Gen {
		return r, true // nothing new to adopt; the merge settles the order
	}
	window := g.n.tb.Policy().Window
	g.mu.Lock()
	defer g.mu.Unlock()
	p := g.pending[r.Key()]
	if p != nil && now.Sub(p.since) > window {
		p = nil
	}
	if p == nil {
		if len(g.pending) >= maxPending {
			return r, false
		}
		p = &pendingTrip{since: now, reporters: map[string]struct{}{}, best: r}
		g.pending[r.Key()] = p
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
	delete(g.pending, r.Key())
	return p.best, true
}

// prune forgets unconfirmed trips older than the window.
func (g *guard) prune(now time.Time) {
	window := g.n.tb.Policy().Window
	g.mu.Lock()
	for up, p := range g.pending {
		if now.Sub(p.since) > window {
			delete(g.pending, up)
		}
	}
	g.mu.Unlock()
}
