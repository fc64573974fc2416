package state

import (
	"math"
	"math/rand/v2"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// breaker is one upstream's circuit breaker. Its phase and epoch are packed
// into word so that the closed-state hot path reads them without the lock;
// everything else is guarded by mu. The methods ending in Locked are the
// deterministic core: time comes in as an argument and they call, send and
// log nothing. Transitions are returned to the Table, which publishes them
// after the lock is released.
type breaker struct {
	// word packs the phase (low 8 bits) and the epoch (the rest), which
	// grows on every phase change so that tickets of an earlier phase are
	// recognised as stale.
	word atomic.Uint64
	// used is set by every lookup and cleared by eviction sweeps.
	used atomic.Bool
	// counting is set while the breaker has a window: from its first
	// failure on, successes are counted too (calls), so that a failure
	// ratio can be judged. Without a window a success costs nothing.
	counting atomic.Bool

	key Key

	mu        sync.Mutex // guards the fields below
	gen       uint64     // trip generation of the current record
	hlc       HLC        // HLC of the current record
	origin    string     // origin of the current record
	reason    string     // reason of the current record
	since     int64      // unix ns when the current phase was entered here
	openUntil int64      // unix ns when an open breaker's open time runs out
	trips     uint32
	win       *window
	probes    *probeSet // permits while half-open on this node
	evDirty   bool      // own failures changed since evidence was last taken
	manual    bool      // the current open is an operator's trip made on this node
	lastFail  int64     // unix ns of the last failure counted here (MaxPairs eviction order)
	hot       bool      // pairs: hot as last told to the site (see hotLocked)
	openedAt  int64     // sites: unix ns when it last opened here (0: closed since)
	reporters int       // open or half-open: nodes with failures in the window when it opened here
	// hotPairs counts a site's pairs that are hot (see Table.unlock);
	// written under the site's lock, read without it.
	hotPairs atomic.Int32
	detached bool // evicted from the table; lookups must find the new one
	// gone is detached for readers without the lock (ProxyRef); set with
	// detached, under mu.
	gone atomic.Bool
}

// probeSet tracks half-open probe permits handed out by this node.
type probeSet struct {
	next   uint32
	leases []probeLease
}

type probeLease struct {
	id    uint32
	until int64 // unix ns when the permit is returned if still unsettled
}

func newBreaker(k Key) *breaker {
	b := &breaker{key: k}
	b.word.Store(uint64(PhaseClosed))
	return b
}

func (b *breaker) phase() Phase  { return Phase(b.word.Load() & 0xff) }
func epochOf(word uint64) uint64 { return word >> 8 }

// setPhaseLocked enters a new phase and starts a new epoch.
func (b *breaker) setPhaseLocked(p Phase, now int64) {
	w := b.word.Load()
	b.word.Store((epochOf(w)+1)<<8 | uint64(p))
	b.since = now
}

// pristineLocked reports whether the breaker holds nothing worth keeping.
func (b *breaker) pristineLocked() bool {
	return b.gen == 0 && b.hlc == 0 && b.phase() == PhaseClosed && (b.win == nil || b.win.empty()) && b.hotPairs.Load() == 0
}

// recordLocked returns the breaker's current record as of now.
func (b *breaker) recordLocked(now int64) Record {
	r := Record{
		Kind:     KindBreaker,
		Upstream: b.key.Proxy,
		Site:     b.key.Site,
		Gen:      b.gen,
		Phase:    b.phase(),
		HLC:      b.hlc,
		Origin:   b.origin,
		Reason:   b.reason,
	}
	if r.Phase == PhaseOpen {
		r.OpenFor = max(0, time.Duration(b.openUntil-now))
	}
	return r
}

// env is what the core needs from its Table: every answer it needs is
// computed before the breaker is locked, so the core calls nothing.
type env struct {
	pol   *compiledPolicy
	node  string
	clock *Clock
	owns  bool // this node owns the breaker's probe (Admit and Eligible only)
	// siteOwn and siteFleet are a pair's site's (failures, calls) in the
	// window, this node's and the fleet's (hasSite: the site has a
	// window), so that a pair is judged against the rest of the pool.
	siteOwn, siteFleet [2]uint32
	hasSite            bool
}

// windowLocked returns the breaker's window advanced to now, allocating it.
func (b *breaker) windowLocked(now int64, pol *compiledPolicy) *window {
	idx := now / pol.bucketWidth
	if b.win == nil {
		b.win = &window{head: idx}
		b.counting.Store(true)
	}
	b.win.advance(idx)
	return b.win
}

// reportersLocked returns how many nodes' failures the window holds as of
// now: each origin whose evidence counts a failure, and this node when it
// counted one.
func (b *breaker) reportersLocked(now int64, pol *compiledPolicy) int {
	if b.win == nil {
		return 0
	}
	_, _, n := b.windowLocked(now, pol).fleet()
	return n
}

// dropWindowLocked forgets the window: counting stops until the next
// failure.
func (b *breaker) dropWindowLocked() {
	b.win = nil
	b.counting.Store(false)
}

// admitLocked decides on a call while not closed. It returns the probe
// permit id (0 for none), whether the call may go, and a transition when the
// breaker moved to half-open.
func (b *breaker) admitLocked(now int64, e *env) (permit uint32, ok bool, tr *Transition) {
	switch b.phase() {
	case PhaseClosed:
		return 0, true, nil
	case PhaseOpen:
		if now < b.openUntil {
			return 0, false, nil
		}
		if !e.owns && now < b.openUntil+int64(e.pol.p.ProbeGrace) {
			return 0, false, nil
		}
		tr = b.halfOpenLocked(now, e)
	case PhaseHalfOpen:
		if b.probes == nil {
			// Another node is probing. Take over only when its probe
			// has had its lease and the grace on top.
			if now < b.since+int64(e.pol.p.ProbeLease+e.pol.p.ProbeGrace) {
				return 0, false, nil
			}
			tr = b.halfOpenLocked(now, e)
		}
	}
	id, ok := b.probes.acquire(now, e.pol)
	return id, ok, tr
}

// halfOpenLocked moves to half-open on this node, as the prober.
func (b *breaker) halfOpenLocked(now int64, e *env) *Transition {
	from := b.phase()
	b.hlc = e.clock.at(time.Unix(0, now))
	b.origin = e.node
	b.reason = "open time elapsed"
	b.probes = &probeSet{}
	b.setPhaseLocked(PhaseHalfOpen, now)
	return &Transition{Record: b.recordLocked(now), From: from, Source: SourceLocal}
}

// acquire hands out a probe permit, first returning expired leases.
func (ps *probeSet) acquire(now int64, pol *compiledPolicy) (uint32, bool) {
	if ps == nil {
		return 0, false
	}
	live := ps.leases[:0]
	for _, l := range ps.leases {
		if l.until > now {
			live = append(live, l)
		}
	}
	ps.leases = live
	if len(ps.leases) >= pol.p.HalfOpenProbes {
		return 0, false
	}
	ps.next++
	ps.leases = append(ps.leases, probeLease{id: ps.next, until: now + int64(pol.p.ProbeLease)})
	return ps.next, true
}

// available reports whether a permit could be had now, without taking one.
func (ps *probeSet) available(now int64, pol *compiledPolicy) bool {
	if ps == nil {
		return false
	}
	n := 0
	for _, l := range ps.leases {
		if l.until > now {
			n++
		}
	}
	return n < pol.p.HalfOpenProbes
}

// release returns a permit; it reports whether the permit was still held.
func (ps *probeSet) release(id uint32) bool {
	if ps == nil {
		return false
	}
	for i, l := range ps.leases {
		if l.id == id {
			ps.leases = append(ps.leases[:i], ps.leases[i+1:]...)
			return true
		}
	}
	return false
}

// eligibleLocked is admitLocked without taking anything.
func (b *breaker) eligibleLocked(now int64, e *env) bool {
	switch b.phase() {
	case PhaseOpen:
		if now < b.openUntil {
			return false
		}
		return e.owns || now >= b.openUntil+int64(e.pol.p.ProbeGrace)
	case PhaseHalfOpen:
		if b.probes == nil {
			return now >= b.since+int64(e.pol.p.ProbeLease+e.pol.p.ProbeGrace)
		}
		return b.probes.available(now, e.pol)
	}
	return true
}

// settleLocked applies the outcome of an admitted call.
func (b *breaker) settleLocked(tk Ticket, outcome Outcome, latency time.Duration, now int64, e *env) *Transition {
	if tk.permit != 0 {
		held := b.probes.release(tk.permit)
		switch {
		case outcome == OutcomeSuccess:
			return b.closeLocked(now, e, "probe succeeded", SourceLocal)
		case outcome == OutcomeFailure:
			return b.tripLocked(now, e, 0, "probe failed", SourceLocal)
		default:
			_ = held // an abandoned probe just gives its permit back
			return nil
		}
	}
	if outcome == OutcomeAbandoned {
		return nil
	}
	pol := e.pol
	if outcome != OutcomeFailure && b.win == nil && !pol.countCalls {
		return nil // counting starts at the first failure
	}
	w := b.windowLocked(now, pol)
	cur := &w.own[slot(w.head)]
	cur.calls++
	if pol.p.SlowCall > 0 && latency > pol.p.SlowCall {
		cur.slow++
	}
	if outcome == OutcomeFailure {
		cur.failures++
		b.evDirty = true
		b.lastFail = now
	}
	return b.judgeLocked(now, e)
}

// rateReached reports whether failures out of calls reach the policy's
// MinFailureRate (always, when it is off). Calls are counted from the
// window's first failure, so the ratio can only overstate; calls below
// failures (evidence of an older node) read as failures.
func rateReached(p *compiledPolicy, failures, calls uint32) bool {
	r := p.minRate
	return r <= 0 || float64(failures) >= r*float64(max(calls, failures))
}

// judgeLocked trips a closed breaker whose window has reached a threshold.
func (b *breaker) judgeLocked(now int64, e *env) *Transition {
	if b.phase() != PhaseClosed || b.win == nil {
		return nil
	}
	if b.key.Level() == LevelSite {
		return b.judgeSiteLocked(now, e)
	}
	p := &e.pol.p
	failures, calls, slow := b.win.totals()
	switch {
	case failures >= uint32(p.FailureThreshold) && rateReached(e.pol, failures, calls) && b.blamed(e, failures, calls, false):
		return b.tripLocked(now, e, 0, "failure threshold reached", SourceLocal)
	case p.FailureRate > 0 && calls >= uint32(p.MinCalls) && float64(failures) >= p.FailureRate*float64(calls):
		return b.tripLocked(now, e, 0, "failure rate reached", SourceLocal)
	case p.SlowCall > 0 && p.SlowCallRate > 0 && calls >= uint32(p.MinCalls) && float64(slow) >= p.SlowCallRate*float64(calls):
		return b.tripLocked(now, e, 0, "slow-call rate reached", SourceLocal)
	}
	fleet, fleetCalls, reporters := b.win.fleet()
	if fleet > failures && fleet >= uint32(p.FleetThreshold) && reporters >= p.MinReporters &&
		rateReached(e.pol, fleet, fleetCalls) && b.blamed(e, fleet, fleetCalls, true) {
		return b.tripLocked(now, e, 0, "fleet failure threshold reached", SourceLocal)
	}
	if b.key.Level() == LevelProxy {
		if n, names := b.win.spreadCount(maxReasonNames); n >= p.SpreadSites {
			return b.tripLocked(now, e, 0, spreadReason("failing on", n, "sites", names), SourceLocal)
		}
	}
	return nil
}

// judgeSiteLocked trips a closed site whose failures, through at least
// SpreadProxies distinct proxies, reach FailureThreshold at a ratio of at
// least SiteFailureRate, on this node's counts or the fleet's.
func (b *breaker) judgeSiteLocked(now int64, e *env) *Transition {
	p := &e.pol.p
	n, _ := b.win.spreadCount(0)
	if n < p.SpreadProxies {
		return nil
	}
	f, c, _ := b.win.totals()
	ff, fc, reporters := b.win.fleet()
	if reporters < p.MinReporters {
		ff = f
		fc = c
	}
	for _, fc := range [2][2]uint32{{f, c}, {ff, fc}} {
		if fc[0] >= uint32(p.FailureThreshold) && float64(fc[0]) >= p.SiteFailureRate*float64(max(fc[0], fc[1])) {
			return b.tripLocked(now, e, 0, spreadReason("failing through", n, "proxies", nil), SourceLocal)
		}
	}
	return nil
}

// maxReasonNames is how many sites a proxy's roll-up reason names.
const maxReasonNames = 5

// spreadReason words a roll-up's reason: "failing on 3 sites: a.com, b.com,
// c.com".
func spreadReason(what string, n int, unit string, names []string) string {
	s := what + " " + strconv.Itoa(n) + " " + unit
	for i, name := range names {
		if i == 0 {
			s += ": "
		} else {
			s += ", "
		}
		s += name
	}
	return s
}

// openTimeLocked is the open time of the trip about to happen: OpenTimeout
// grown by OpenBackoff per consecutive trip, capped, with ±10% jitter when
// grown.
func (b *breaker) openTimeLocked(p *compiledPolicy) time.Duration {
	base := p.p.OpenTimeout
	if p.p.OpenBackoff <= 1 || b.trips == 0 {
		return base
	}
	grown := float64(base) * math.Pow(p.p.OpenBackoff, float64(b.trips))
	grown *= 0.9 + 0.2*rand.Float64()
	return time.Duration(min(grown, float64(p.p.MaxOpenTimeout)))
}

// tripLocked opens the breaker in a new generation for openFor (0: the
// policy's open time).
func (b *breaker) tripLocked(now int64, e *env, openFor time.Duration, reason string, src Source) *Transition {
	from := b.phase()
	if openFor <= 0 {
		openFor = b.openTimeLocked(e.pol)
	}
	b.trips++
	b.gen++
	b.hlc = e.clock.at(time.Unix(0, now))
	b.origin = e.node
	b.reason = reason
	b.openUntil = now + int64(openFor)
	switch {
	case src == SourceManual: // an operator's trip rests on no evidence
		b.reporters = 0
	case from == PhaseClosed: // a failed probe keeps the evidence it first opened on
		b.reporters = b.reportersLocked(now, e.pol)
	}
	b.dropWindowLocked()
	b.probes = nil
	b.manual = src == SourceManual
	if from == PhaseClosed {
		b.openedAt = now
	}
	b.setPhaseLocked(PhaseOpen, now)
	return &Transition{Record: b.recordLocked(now), From: from, Source: src}
}

// closeLocked closes the breaker in its current generation.
func (b *breaker) closeLocked(now int64, e *env, reason string, src Source) *Transition {
	from := b.phase()
	b.trips = 0
	b.manual = false
	b.hlc = e.clock.at(time.Unix(0, now))
	b.origin = e.node
	b.reason = reason
	b.openUntil = 0
	b.dropWindowLocked()
	b.probes = nil
	b.setPhaseLocked(PhaseClosed, now)
	return &Transition{Record: b.recordLocked(now), From: from, Source: src}
}

// mergeLocked adopts a remote record if it is greater than the current one.
// A record that opens the breaker keeps how many nodes' failures this node
// held for it (see Table.Reporters).
func (b *breaker) mergeLocked(r Record, now int64, pol *compiledPolicy, src Source) *Transition {
	cur := Record{Gen: b.gen, Phase: b.phase(), HLC: b.hlc, Origin: b.origin, Reason: b.reason}
	in := Record{Gen: r.Gen, Phase: r.Phase, HLC: r.HLC, Origin: r.Origin, Reason: r.Reason}
	if Compare(in, cur) <= 0 {
		return nil
	}
	from := b.phase()
	b.gen, b.hlc, b.origin, b.reason = r.Gen, r.HLC, r.Origin, r.Reason
	if from == PhaseClosed {
		b.reporters = b.reportersLocked(now, pol)
	}
	b.dropWindowLocked()
	b.probes, b.manual = nil, false
	switch r.Phase {
	case PhaseOpen:
		if from == PhaseClosed {
			b.trips = 1
			b.openedAt = now
		} else {
			b.trips++
		}
		b.openUntil = now + int64(max(0, r.OpenFor))
	case PhaseHalfOpen:
		b.openUntil = 0
	default:
		b.trips = 0
		b.openUntil = 0
	}
	b.setPhaseLocked(r.Phase, now)
	return &Transition{Record: b.recordLocked(now), From: from, Source: src}
}
