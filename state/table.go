package state

import (
	"cmp"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/proxywhirl/retrycoord/policy"
)

// ErrOpen is returned by Admit when the upstream's breaker rejects the call:
// it is open, or half-open with every probe permit taken.
var ErrOpen = errors.New("state: breaker open")

// Config tunes a Table. The zero Config is ready to use.
type Config struct {
	// Policy holds the trip and recovery rules (default: policy.DefaultBreaker()).
	Policy policy.BreakerPolicy
	// Node names this node as the Origin of the records it writes
	// (default "local"). In a cluster it is the member name.
	Node string
	// Now reads wall time (default time.Now). Tests inject a fake clock.
	Now func() time.Time
	// MaxSkew is how far ahead of local wall time a remote HLC may be before
	// it is clamped and counted (default 2s).
	MaxSkew time.Duration
	// Logger receives transitions at Info (a pool fact's at Debug: a pool
	// loaded at once is as many) and dropped publications at Debug
	// (default: discard).
	Logger *slog.Logger
	// MaxPairs bounds the (proxy, site) pairs held (default 1,000,000).
	// Over it, the least recently failed pairs that never tripped are
	// removed, and counted in Stats.PairsEvicted.
	MaxPairs int
}

// DefaultMaxPairs is the MaxPairs of the zero Config.
const DefaultMaxPairs = 1_000_000

// Table holds one breaker per upstream, created on first use, plus the
// fleet-wide facts (pool entries, policy document) as max-registers. It is
// safe for concurrent use. Reading (State, Eligible, Snapshot) never takes a
// probe permit; only Admit does.
//
// Every change — a local trip, a merged remote record, a manual reset — is
// published, after the locks are released, to each Subscription.
type Table struct {
	node     string
	now      func() time.Time
	clock    *Clock
	logger   *slog.Logger
	index    indexes
	maxPairs int

	policy     atomic.Pointer[compiledPolicy]
	countCalls atomic.Bool // the policy's countCalls, for the hot path
	owner      atomic.Pointer[func(string) bool]

	subsMu sync.Mutex // guards subs (copy on write)
	subs   atomic.Pointer[[]*Subscription]

	factsMu sync.Mutex // guards facts, factSeq and factLog
	facts   map[factKey]factEntry
	factSeq uint64 // facts merged so far: the seq of the last one
	factLog factLog

	dirtyMu sync.Mutex // guards dirty
	dirty   []*breaker // upstreams whose own failures changed since PendingEvidence

	budgets budgetBook  // retry budgets per site (budget.go)
	latency latencyBook // latency sketches per site (latency.go)

	stats struct {
		breakers      atomic.Int64
		pairs         atomic.Int64
		pairsEvicted  atomic.Uint64
		stale         atomic.Uint64
		dropped       atomic.Uint64
		evicted       atomic.Uint64
		evidenceSelf  atomic.Uint64
		evidenceAhead atomic.Uint64
	}
}

type factKey struct {
	kind Kind
	key  string
}

// compiledPolicy is a validated policy with what the hot path derives from it.
type compiledPolicy struct {
	p           policy.BreakerPolicy
	bucketWidth int64 // ns
	countCalls  bool  // successes must be counted from the first call (a rate is configured)
	minRate     float64
}

func compile(p policy.BreakerPolicy) (*compiledPolicy, error) {
	p = p.WithDefaults()
	if err := p.Validate(); err != nil {
		return nil, fmt.Errorf("state: %w", err)
	}
	return &compiledPolicy{
		p:           p,
		bucketWidth: max(1, int64(p.Window)/bucketsPerWindow),
		countCalls:  p.FailureRate > 0 || (p.SlowCall > 0 && p.SlowCallRate > 0),
		minRate:     max(0, p.MinFailureRate),
	}, nil
}

// NewTable returns an empty Table, or an error if the policy is invalid.
func NewTable(cfg Config) (*Table, error) {
	pol, err := compile(cfg.Policy)
	if err != nil {
		return nil, err
	}
	t := &Table{
		node:   cmp.Or(cfg.Node, "local"),
		now:    cfg.Now,
		logger: cmp.Or(cfg.Logger, slog.New(slog.DiscardHandler)),
		facts:  make(map[factKey]factEntry),
	}
	t.maxPairs = cmp.Or(cfg.MaxPairs, DefaultMaxPairs)
	if t.maxPairs < 0 {
		return nil, fmt.Errorf("state: MaxPairs %d is negative", cfg.MaxPairs)
	}
	if cfg.Now == nil {
		t.now = time.Now
	}
	t.clock = NewClock(t.now, cfg.MaxSkew)
	t.policy.Store(pol)
	t.countCalls.Store(pol.countCalls)
	return t, nil
}

// Node returns the name this table writes as the Origin of its records.
func (t *Table) Node() string { return t.node }

// Clock returns the table's hybrid logical clock.
func (t *Table) Clock() *Clock { return t.clock }

// Policy returns the breaker policy in force, defaults filled in.
func (t *Table) Policy() policy.BreakerPolicy { return t.policy.Load().p }

// SetPolicy replaces the breaker policy. Breakers keep their phase; counts
// taken under a different window width start afresh.
func (t *Table) SetPolicy(p policy.BreakerPolicy) error {
	pol, err := compile(p)
	if err != nil {
		return err
	}
	old := t.policy.Swap(pol)
	t.countCalls.Store(pol.countCalls)
	if old.bucketWidth != pol.bucketWidth {
		for _, b := range t.all() {
			b.mu.Lock()
			b.dropWindowLocked()
			t.unlock(b)
		}
	}
	return nil
}

// SetProbeOwner installs the hook that says whether this node owns the
// probe of a breaker whose open time has run out (nil: always). It is asked
// with Key.String(): the proxy's key for a proxy, as before sites. Only the
// owner moves to half-open at once; the others wait ProbeGrace longer for
// its result. The hook is called with no lock held, before the breaker is
// locked, and only for breakers that are not closed; it must be safe for
// concurrent use.
func (t *Table) SetProbeOwner(owns func(upstream string) bool) {
	if owns == nil {
		t.owner.Store(nil)
		return
	}
	t.owner.Store(&owns)
}

func (t *Table) env() env {
	return env{pol: t.policy.Load(), node: t.node, clock: t.clock}
}

// ownsProbe asks the probe-owner hook about an upstream. It is called with
// no lock held, and its answer is passed into the core.
func (t *Table) ownsProbe(k Key) bool {
	o := t.owner.Load()
	return o == nil || (*o)(k.String())
}

// Ticket is the permission Admit gives for one call. Settle it exactly once
// with the call's outcome. A ticket from an earlier phase of the breaker is
// ignored by Settle. The zero Ticket settles as a no-op.
type Ticket struct {
	b      *breaker
	epoch  uint64
	permit uint32 // half-open probe permit id; 0 for a closed-state call
}

// Upstream returns the upstream (proxy) the ticket is for.
func (tk Ticket) Upstream() string {
	if tk.b == nil {
		return ""
	}
	return tk.b.key.Proxy
}

// Key returns the key of the breaker the ticket is for (the zero Key for
// the zero Ticket).
func (tk Ticket) Key() Key {
	if tk.b == nil {
		return Key{}
	}
	return tk.b.key
}

// Probe reports whether the ticket holds a half-open probe permit.
func (tk Ticket) Probe() bool { return tk.permit != 0 }

// Admit asks the upstream's breaker to let one call through. A closed
// breaker admits at once, without locks or clock reads. An open breaker
// returns ErrOpen until its open time has run out; then its probe owner moves
// it to half-open and takes a probe permit. Only the upstream actually about
// to be called should be admitted: every ticket must be settled.
func (t *Table) Admit(upstream string) (Ticket, error) {
	return t.AdmitAt(ProxyKey(upstream))
}

// AdmitAt is Admit for a breaker of any level. A pair's or a site's
// breaker is not created by admitting it: when there is none, AdmitAt
// admits with the zero Ticket, and SettleAt creates the breaker on a
// failure.
func (t *Table) AdmitAt(k Key) (Ticket, error) {
	return t.admit(t.lookup(k, k.Level() == LevelProxy), k)
}

// admit is AdmitAt for a breaker already looked up (nil: none).
func (t *Table) admit(b *breaker, k Key) (Ticket, error) {
	if b == nil {
		return Ticket{}, nil
	}
	if w := b.word.Load(); Phase(w&0xff) == PhaseClosed {
		return Ticket{b: b, epoch: epochOf(w)}, nil
	}
	now := t.now().UnixNano()
	e := t.env()
	e.owns = t.ownsProbe(k)
	b = t.locked(k)
	permit, ok, tr := b.admitLocked(now, &e)
	tk := Ticket{b: b, epoch: epochOf(b.word.Load()), permit: permit}
	t.unlock(b)
	t.publish(tr)
	if !ok {
		return Ticket{}, ErrOpen
	}
	return tk, nil
}

// Settle records the outcome of an admitted call and its latency (used for
// slow-call accounting). A success in the closed state costs nothing unless a
// rate is configured. Settle is safe to call with a ticket of an earlier phase
// (it is ignored) and with the zero Ticket.
func (t *Table) Settle(tk Ticket, outcome Outcome, latency time.Duration) {
	b := tk.b
	if b == nil {
		return
	}
	if tk.permit == 0 && (outcome == OutcomeAbandoned || (outcome == OutcomeSuccess && !b.counting.Load() && !t.countCalls.Load())) {
		return
	}
	e := t.env()
	now := t.now().UnixNano()
	if b.key.Level() == LevelPair {
		t.siteEnv(b.key.Site, &e, now)
	}
	for {
		b.mu.Lock()
		if b.detached {
			// Evicted after this call was admitted: count it on the
			// breaker that replaced it.
			b.mu.Unlock()
			b = t.lookup(b.key, true)
			tk.epoch = epochOf(b.word.Load())
			continue
		}
		if epochOf(b.word.Load()) != tk.epoch {
			b.mu.Unlock()
			t.stats.stale.Add(1)
			return
		}
		tr := b.settleLocked(tk, outcome, latency, now, &e)
		dirty := b.evDirty
		t.unlock(b)
		if dirty {
			t.markDirty(b)
		}
		t.publish(tr)
		t.rollUp(b.key, outcome == OutcomeFailure, tr, now)
		return
	}
}

// State returns the phase of an upstream's breaker as this node records it
// (closed for an upstream never seen). It takes nothing.
func (t *Table) State(upstream string) Phase { return t.StateAt(ProxyKey(upstream)) }

// StateAt is State for a breaker of any level.
func (t *Table) StateAt(k Key) Phase {
	b := t.lookup(k, false)
	if b == nil {
		return PhaseClosed
	}
	return b.phase()
}

// Eligible reports whether Admit would let a call through now. It takes
// nothing: a half-open breaker with a free permit is eligible, and stays so
// until some call is actually admitted.
func (t *Table) Eligible(upstream string) bool { return t.EligibleAt(ProxyKey(upstream)) }

// EligibleAt is Eligible for a breaker of any level.
func (t *Table) EligibleAt(k Key) bool { return t.eligible(t.lookup(k, false), k) }

// eligible is EligibleAt for a breaker already looked up (nil: none).
func (t *Table) eligible(b *breaker, k Key) bool {
	if b == nil {
		return true
	}
	if b.phase() == PhaseClosed {
		return true
	}
	now := t.now().UnixNano()
	e := t.env()
	e.owns = t.ownsProbe(k)
	b.mu.Lock()
	ok := b.eligibleLocked(now, &e)
	b.mu.Unlock()
	return ok
}

// Record returns an upstream's current record, and false when the upstream
// is pristine (never tripped) or unknown.
func (t *Table) Record(upstream string) (Record, bool) { return t.RecordAt(ProxyKey(upstream)) }

// RecordAt is Record for a breaker of any level.
func (t *Table) RecordAt(k Key) (Record, bool) {
	b := t.lookup(k, false)
	if b == nil {
		return Record{}, false
	}
	now := t.now().UnixNano()
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.gen == 0 && b.hlc == 0 {
		return Record{}, false
	}
	return b.recordLocked(now), true
}

// Trip opens an upstream's breaker in a new generation for openFor (0: the
// policy's open time), as an operator would. It returns the new record.
func (t *Table) Trip(upstream string, openFor time.Duration, reason string) Record {
	return t.TripAt(ProxyKey(upstream), openFor, reason)
}

// TripAt is Trip for a breaker of any level. A trip of a site makes every
// request for it fail fast, fleet-wide, until its probe succeeds.
func (t *Table) TripAt(k Key, openFor time.Duration, reason string) Record {
	now := t.now().UnixNano()
	e := t.env()
	b := t.locked(k)
	tr := b.tripLocked(now, &e, openFor, cmp.Or(reason, "tripped by operator"), SourceManual)
	t.unlock(b)
	t.publish(tr)
	return tr.Record
}

// Reset closes an upstream's breaker in its current generation, as an
// operator would. It reports whether anything changed (false when closed).
func (t *Table) Reset(upstream string) (Record, bool) { return t.ResetAt(ProxyKey(upstream)) }

// ResetAt is Reset for a breaker of any level.
func (t *Table) ResetAt(k Key) (Record, bool) {
	now := t.now().UnixNano()
	e := t.env()
	b := t.locked(k)
	var tr *Transition
	if b.phase() != PhaseClosed {
		tr = b.closeLocked(now, &e, "reset by operator", SourceManual)
	}
	rec := b.recordLocked(now)
	t.unlock(b)
	t.publish(tr)
	return rec, tr != nil
}

// Merge folds a record from another node or the ledger into the table and
// reports whether it changed anything; only then is it published (and only
// then should a gossiping node pass it on). Records of this node's own
// origin are merged like any other: a restarted node learns its old records.
func (t *Table) Merge(rec Record, src Source) (changed bool) {
	if rec.HLC != 0 {
		t.clock.Observe(rec.HLC)
	}
	if !rec.IsBreaker() {
		return t.mergeFact(rec, src)
	}
	k := rec.Key()
	if k.Level() == 0 || !validKey(k) || rec.Phase < PhaseOpen || rec.Phase > PhaseClosed {
		return false
	}
	now := t.now().UnixNano()
	b := t.locked(k)
	tr := b.mergeLocked(rec, now, t.policy.Load(), src)
	t.unlock(b)
	t.publish(tr)
	t.rollUp(k, false, tr, now)
	return tr != nil
}

// Snapshot returns every record that is not pristine: each breaker that has
// ever tripped (with its open time remaining), and every fact.
func (t *Table) Snapshot() []Record {
	now := t.now().UnixNano()
	var out []Record
	for _, b := range t.all() {
		b.mu.Lock()
		if b.gen != 0 || b.hlc != 0 {
			out = append(out, b.recordLocked(now))
		}
		b.mu.Unlock()
	}
	t.factsMu.Lock()
	out = slices.Grow(out, len(t.facts)) // a shared pool's facts can be 100,000
	for _, f := range t.facts {
		out = append(out, f.rec)
	}
	t.factsMu.Unlock()
	return out
}

// Len returns how many breakers the table holds.
func (t *Table) Len() int { return int(t.stats.breakers.Load()) }

// Stats are a table's counters since it was created.
type Stats struct {
	Breakers       int    // breakers held now
	StaleSettles   uint64 // settles ignored because the breaker had moved on
	Dropped        uint64 // transitions a full subscription could not take
	Evicted        uint64 // idle pristine breakers removed
	Pairs          int    // (proxy, site) pairs held now
	PairsEvicted   uint64 // pairs removed because there were more than MaxPairs
	SkewClamped    uint64 // remote HLCs clamped to local time + MaxSkew
	EvidenceEchoes uint64 // evidence ignored because it named this node as origin
	EvidenceAhead  uint64 // evidence buckets dropped: more than MaxSkew ahead of local time
	BudgetDropped  uint64 // budget counts and latency sketches from others dropped (bounds, bad input)
}

// Stats returns the table's counters.
func (t *Table) Stats() Stats {
	return Stats{
		Breakers:       t.Len(),
		StaleSettles:   t.stats.stale.Load(),
		Dropped:        t.stats.dropped.Load(),
		Evicted:        t.stats.evicted.Load(),
		Pairs:          int(t.stats.pairs.Load()),
		PairsEvicted:   t.stats.pairsEvicted.Load(),
		SkewClamped:    t.clock.Clamped(),
		EvidenceEchoes: t.stats.evidenceSelf.Load(),
		EvidenceAhead:  t.stats.evidenceAhead.Load(),
		BudgetDropped:  t.budgets.dropped.Load(),
	}
}
