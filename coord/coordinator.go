package coord

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/proxywhirl/retrycoord/internal/logkey"
	"github.com/proxywhirl/retrycoord/policy"
	"github.com/proxywhirl/retrycoord/state"
	"github.com/sethvargo/go-retry"
)

// DefaultMaxReplayBody is the largest request body buffered for replay.
const DefaultMaxReplayBody = 1 << 20

// Config configures a Coordinator. The zero Config is a complete
// single-node coordinator with an empty pool and the default policies.
type Config struct {
	// Table holds the breakers and the fleet's facts (default: a new
	// state.Table). New puts Document.Breaker in force on it. Whatever
	// spreads records (a cluster.Node, a redisledger.Ledger) subscribes to
	// this table itself: the coordinator only admits, settles and writes
	// facts on it.
	Table *state.Table
	// Document holds the retry, breaker and selection policies (default: the
	// zero Document, every default). A policy fact already in Table wins.
	Document policy.Document
	// Pool is the initial pool, added locally (not written as facts).
	Pool []PoolEntry
	// Classifier maps attempts to outcomes (zero: the defaults).
	Classifier Classifier
	// Logger receives attempts at Debug and degraded states at Warn
	// (default: discard).
	Logger *slog.Logger
	// Now reads wall time for latencies and metrics (default: time.Now,
	// with the wall clock read once a second and the monotonic clock in
	// between; see wallClock).
	Now func() time.Time
	// Backoff returns the engine of one request's waits between attempts,
	// for its retry policy: any go-retry Backoff (default
	// policy.DefaultBackoff, the policy's Backoff, Jitter, BaseDelay and
	// Multiplier). It is called at a request's first retry, never on the
	// path that does not retry, and may be called concurrently. Whatever
	// it returns, the coordinator honours Retry-After, caps every wait at
	// MaxDelay, clips to Timeout and counts MaxAttempts; an engine that
	// stops ends the request (GiveUpError).
	Backoff func(policy.RetryPolicy) retry.Backoff
	// Site names the site a request counts against (default SiteOf: the
	// registrable domain of its host). Group sites that fail together,
	// e.g. all sites behind one anti-bot vendor, by returning one name for
	// them. WithSite overrides it per request. It must be safe for
	// concurrent use.
	Site func(*http.Request) string
	// Keying says which breakers failures land on (default KeyingSite: the
	// proxy, the (proxy, site) pair or the site, whichever explains the
	// failure; KeyingProxy: the proxy alone, as before sites).
	Keying Keying
	// MaxReplayBody is the largest request body Transport buffers so that it
	// can be sent again (default 1 MiB; negative: never buffer). A request
	// with a larger body gets one attempt.
	MaxReplayBody int64
}

// Coordinator chooses upstream proxies, retries requests through them with
// failover, and records what happened. It is safe for concurrent use.
type Coordinator struct {
	tb       *state.Table
	pool     *pool
	sel      selector
	pol      atomic.Pointer[compiledDoc]
	cls      Classifier
	rec      *Recorder
	logger   *slog.Logger
	now      func() time.Time
	maxBody  int64
	backoff  func(policy.RetryPolicy) retry.Backoff
	siteFn   func(*http.Request) string
	keying   Keying
	reqID    requestIDs
	badFacts atomic.Uint64
	budget   budgetCounters
	poolSeq  uint64 // the table's fact merges applied to the pool so far (New, then only Run)

	runMu   sync.Mutex // guards running, closed, cancel, done
	running bool
	closed  bool
	cancel  context.CancelFunc
	done    chan struct{}
}

type compiledDoc struct {
	doc   policy.Document     // as given
	retry policy.RetryPolicy  // defaults filled
	sel   policy.SelectPolicy // defaults filled
}

func compileDoc(d policy.Document) (*compiledDoc, error) {
	if err := d.Validate(); err != nil {
		return nil, fmt.Errorf("coord: %w", err)
	}
	f := d.WithDefaults()
	return &compiledDoc{doc: d, retry: f.Retry, sel: f.Select}, nil
}

// New returns a Coordinator, or an error naming the first bad pool URL (its
// password redacted) or the policy field out of bounds.
func New(cfg Config) (*Coordinator, error) {
	cd, err := compileDoc(cfg.Document)
	if err != nil {
		return nil, err
	}
	c := &Coordinator{
		tb:      cfg.Table,
		pool:    newPool(),
		cls:     cfg.Classifier,
		logger:  cmp.Or(cfg.Logger, slog.New(slog.DiscardHandler)),
		now:     cfg.Now,
		maxBody: cmp.Or(cfg.MaxReplayBody, DefaultMaxReplayBody),
		backoff: cfg.Backoff,
		siteFn:  cfg.Site,
		keying:  cfg.Keying,
	}
	if c.siteFn == nil {
		c.siteFn = SiteOf
	}
	if c.backoff == nil {
		c.backoff = policy.DefaultBackoff
	}
	if c.now == nil {
		c.now = newWallClock().Now
	}
	if c.tb == nil {
		if c.tb, err = state.NewTable(state.Config{Policy: cfg.Document.Breaker, Logger: cfg.Logger}); err != nil {
			return nil, fmt.Errorf("coord: %w", err)
		}
	} else if err := c.tb.SetPolicy(cfg.Document.Breaker); err != nil {
		return nil, fmt.Errorf("coord: %w", err)
	}
	c.pol.Store(cd)
	c.sel.tb = c.tb
	c.rec = newRecorder(c.now)
	ups := make([]*Upstream, 0, len(cfg.Pool))
	for _, e := range cfg.Pool {
		u, err := ParseUpstream(e)
		if err != nil {
			return nil, err
		}
		ups = append(ups, u)
	}
	c.pool.apply(ups, nil, cd.sel.Window)
	c.syncPolicy()
	// The pool facts the table holds already, but not its tombstones: a
	// removal older than this node leaves its own pool alone. From here
	// on, Run applies every change.
	recs, seq := c.tb.FactsSince(state.KindPool, 0)
	c.applyPoolFacts(slices.DeleteFunc(recs, func(r state.Record) bool { return r.Deleted }))
	c.poolSeq = seq
	return c, nil
}

// syncPolicy puts the table's policy fact in force if it differs from the
// document in force.
func (c *Coordinator) syncPolicy() {
	if rec, ok := c.tb.Fact(state.KindPolicy, ""); ok && !bytes.Equal(rec.Value, c.policyValue()) {
		if err := c.applyPolicyFact(rec); err != nil {
			c.logger.Warn("policy fact ignored", logkey.Err, err)
		}
	}
}

// catchUpPool applies the pool facts that changed in the table since the
// last catch-up (or New), additions and removals, in one batch. It reads
// them from the table rather than from the transitions Run receives, so
// that a burst of facts larger than Run's subscription (a node joining a
// fleet whose pool is 100,000 proxies) loses none. Only Run calls it.
func (c *Coordinator) catchUpPool() {
	recs, seq := c.tb.FactsSince(state.KindPool, c.poolSeq)
	c.poolSeq = seq
	c.applyPoolFacts(recs)
}

// policyValue is the JSON of the document in force, or nil.
func (c *Coordinator) policyValue() []byte {
	b, _ := c.pol.Load().doc.MarshalJSON()
	return b
}

// Table returns the coordinator's breaker table.
func (c *Coordinator) Table() *state.Table { return c.tb }

// Recorder returns the coordinator's attempt and event recorder.
func (c *Coordinator) Recorder() *Recorder { return c.rec }

// Document returns the policy document in force (zero fields kept zero).
func (c *Coordinator) Document() policy.Document { return c.pol.Load().doc }

// SetDocument validates d, puts it in force on this node and writes it as
// a fact, so that it reaches the fleet.
func (c *Coordinator) SetDocument(d policy.Document) error {
	if err := c.setDocument(d); err != nil {
		return err
	}
	b, err := d.MarshalJSON()
	if err != nil {
		return fmt.Errorf("coord: %w", err)
	}
	c.tb.PutFact(state.KindPolicy, "", b)
	return nil
}

func (c *Coordinator) setDocument(d policy.Document) error {
	cd, err := compileDoc(d)
	if err != nil {
		return err
	}
	if err := c.tb.SetPolicy(d.Breaker); err != nil {
		return fmt.Errorf("coord: %w", err)
	}
	c.pol.Store(cd)
	return nil
}

func (c *Coordinator) applyPolicyFact(rec state.Record) error {
	d, err := policy.ParseDocument(rec.Value)
	if err != nil {
		c.badFacts.Add(1)
		return err
	}
	return c.setDocument(d)
}

// Add parses e, adds it to the pool (replacing an entry with the same key)
// and writes it as a fact so that it reaches the fleet.
func (c *Coordinator) Add(e PoolEntry) (*Upstream, error) {
	u, err := ParseUpstream(e)
	if err != nil {
		return nil, err
	}
	c.pool.put(u, c.pol.Load().sel.Window)
	c.tb.PutFact(state.KindPool, u.key, entryValue(u))
	return c.Upstream(u.key), nil
}

// Remove removes the upstream with the given key (or URL) from the pool and
// writes a tombstone fact so that it leaves the fleet's pools too. It
// reports whether the upstream was in this node's pool.
func (c *Coordinator) Remove(key string) bool {
	if u, err := ParseUpstream(PoolEntry{URL: key}); err == nil {
		key = u.key
	}
	ok := c.pool.remove(key)
	c.tb.DeleteFact(state.KindPool, key)
	return ok
}

// Upstreams returns the pool, sorted by key.
func (c *Coordinator) Upstreams() []*Upstream { return c.pool.load().list }

// Upstream returns the upstream with the given key, or nil.
func (c *Coordinator) Upstream(key string) *Upstream { return c.pool.load().byKey[key] }

// BadFacts returns how many pool and policy facts could not be decoded.
func (c *Coordinator) BadFacts() uint64 { return c.badFacts.Load() }

// applyPoolFacts applies pool facts, one per key at most, to the pool in
// one batch: tombstones remove, the others add or replace. A fact that
// cannot be decoded is counted and logged, and changes nothing.
func (c *Coordinator) applyPoolFacts(recs []state.Record) {
	var puts []*Upstream
	var removes []string
	for _, rec := range recs {
		if rec.Deleted {
			removes = append(removes, rec.Upstream)
			continue
		}
		e, err := parseEntryValue(rec.Value)
		if err == nil {
			var u *Upstream
			if u, err = ParseUpstream(e); err == nil && u.key != rec.Upstream {
				err = fmt.Errorf("coord: pool fact key %q does not match its URL", rec.Upstream)
			}
			if err == nil {
				puts = append(puts, u)
				continue
			}
		}
		c.badFacts.Add(1)
		c.logger.Warn("pool fact ignored", logkey.Upstream, rec.Upstream, logkey.Origin, rec.Origin, logkey.Err, err)
	}
	if d := c.pool.apply(puts, removes, c.pol.Load().sel.Window); d.changed() {
		c.logger.Info("pool changed by the fleet's facts", "added", d.Added, "replaced", d.Replaced, "removed", d.Removed,
			"upstreams", len(c.pool.load().list))
	}
}

// runBuffer is how many transitions Run's subscription holds. Beyond it
// they are dropped: Run records fewer breaker events, and catches up with
// the pool and the policy from the table, which holds every fact.
const runBuffer = 4096

// ErrRunning is returned by Run when the Coordinator is already running
// or closed.
var ErrRunning = errors.New("coord: already running or closed")

// Run subscribes to the table until ctx ends or Close is called. It
// applies pool and policy facts that arrive from gossip or the ledger (the
// pool's in batches, read from the table, so that none is lost when the
// subscription overflows), records breaker events, and evicts idle
// breakers about once per breaker Window. It returns nil when stopped; a second Run is ErrRunning. Do and
// Transport work without Run, but then no remote fact is applied and no
// event is recorded. Run relays nothing: the cluster and the ledger read
// the table themselves.
func (c *Coordinator) Run(ctx context.Context) error {
	c.runMu.Lock()
	if c.running || c.closed {
		c.runMu.Unlock()
		return ErrRunning
	}
	ctx, cancel := context.WithCancel(ctx)
	c.running, c.cancel, c.done = true, cancel, make(chan struct{})
	sub := c.tb.Subscribe(runBuffer)
	done := c.done
	c.runMu.Unlock()
	defer close(done)
	// Facts merged between New and Subscribe.
	c.syncPolicy()
	c.catchUpPool()
	defer cancel()
	defer sub.Close()
	evict := time.NewTicker(c.tb.Policy().Window)
	defer evict.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case tr, ok := <-sub.C:
			if !ok {
				return nil
			}
			pool := c.handle(tr)
			// What else is waiting, so that a burst of pool facts is
			// applied as one batch.
			for range len(sub.C) {
				pool = c.handle(<-sub.C) || pool
			}
			if pool {
				c.catchUpPool()
			}
		case <-sub.Missed:
			// Some transitions were lost: the table still holds every
			// fact.
			c.syncPolicy()
			c.catchUpPool()
		case <-evict.C:
			c.tb.EvictIdle()
		}
	}
}

// handle takes one transition: a remote policy fact is put in force, a
// breaker transition recorded as an event. It reports whether tr is a
// pool fact, which Run applies with the others waiting (catchUpPool).
// This node's own pool facts count too, although Add and Remove changed
// the pool already: a catch-up that read a fact just before the operator
// changed it again must be followed by one that reads the change.
func (c *Coordinator) handle(tr state.Transition) (pool bool) {
	rec := tr.Record
	remote := tr.Source == state.SourceGossip || tr.Source == state.SourceLedger
	switch rec.Kind {
	case state.KindPool:
		return true
	case state.KindPolicy:
		if remote {
			if err := c.applyPolicyFact(rec); err != nil {
				c.logger.Warn("policy fact ignored", logkey.Origin, rec.Origin, logkey.Err, err)
			}
		}
	default:
		c.rec.event(Event{
			Time: c.now(), Level: rec.Key().Level(), Upstream: rec.Upstream, Site: rec.Site, From: tr.From, To: rec.Phase,
			Gen: rec.Gen, Source: tr.Source, Origin: rec.Origin, Reason: rec.Reason,
		})
	}
	return false
}

// Close stops Run and waits for it to return. It is idempotent and always
// returns nil.
func (c *Coordinator) Close() error {
	c.runMu.Lock()
	c.closed = true
	running, done := c.running, c.done
	if running {
		c.cancel()
	}
	c.runMu.Unlock()
	if running {
		<-done
	}
	return nil
}
