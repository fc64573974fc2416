package redisledger

import (
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/proxywhirl/retrycoord/state"
	"github.com/redis/go-redis/v9"
)

// ErrRunning is returned by Run when the ledger is already running or closed.
var ErrRunning = errors.New("redisledger: already running or closed")

// Ledger writes this node's records to Redis behind the request path and
// feeds other nodes' records from Redis into the table. It is safe for
// concurrent use. It reads its own subscription to the Table, which never
// makes the table wait; Run owns the background loops (the flusher, the
// stream reader and the reconciler); Close stops them.
type Ledger struct {
	cfg    Config
	client redis.UniversalClient
	owned  bool // the ledger built the client and closes it
	store  *state.Table
	node   string
	log    *slog.Logger
	keys   keys
	epoch  time.Time // monotonic base for queued items

	sub *state.Subscription // the Table's changes; the flusher reads it

	health health

	streamMu sync.Mutex // guards lastID
	lastID   string     // the last stream entry seen; "" until known

	offsetMs atomic.Int64 // the Redis server's clock minus ours, in ms

	stats counters

	runMu   sync.Mutex // guards started and closed
	started bool
	closed  bool
	stop    chan struct{} // closed by Close
	done    chan struct{} // closed when Run returns
	closeMu sync.Once
	closeEr error
}

// item is a record to write and when the flusher took it, so that its
// remaining open time can be brought up to date when it is written.
type item struct {
	rec state.Record
	at  time.Duration // since Ledger.epoch
}

type keys struct {
	record string // + kind digit + ":" + upstream
	index  string // SET of record keys
	stream string // the change stream
	wake   string // this ledger's own stream, written once to end a blocked XREAD
}

func newKeys(prefix string) keys {
	p := "{" + prefix + "}:"
	return keys{record: p + "r:", index: p + "index", stream: p + "stream",
		wake: p + "wake:" + strconv.FormatUint(rand.Uint64(), 36)}
}

func (k keys) of(r state.Record) string {
	kind := r.Kind
	if kind == 0 {
		kind = state.KindBreaker
	}
	if r.IsBreaker() {
		return k.record + string(rune('0'+kind)) + ":" + r.Key().String()
	}
	return k.record + string(rune('0'+kind)) + ":" + r.Upstream
}

type counters struct {
	applied, stale, failed, received, echoes, invalid, outages, reconciled atomic.Uint64
}

// Stats are the ledger's counters since New.
type Stats struct {
	Dropped    uint64 // changes of the Table the ledger's subscription missed: it was full
	Applied    uint64 // writes that changed the ledger (one stream entry each)
	Stale      uint64 // writes the compare-and-set rejected: the ledger held a newer or equal record
	Failed     uint64 // records whose write failed; the reconciler re-asserts them
	Received   uint64 // records from the stream or a snapshot that changed the store
	Echoes     uint64 // this node's own stream entries, skipped
	Invalid    uint64 // undecodable records or stream entries
	Outages    uint64 // times Redis became unreachable
	Reconciled uint64 // records re-asserted after an outage or drops
}

// New validates a copy of cfg and returns a Ledger subscribed to the
// Table: changes made from now on are written once Run runs (up to
// QueueSize of them; the reconciler covers the rest). It does not contact
// Redis and starts nothing: call Snapshot, then Run; Close ends the
// subscription.
func New(cfg Config) (*Ledger, error) {
	cfg.setDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	client, owned, err := cfg.newClient()
	if err != nil {
		return nil, err
	}
	l := &Ledger{
		cfg:    cfg,
		client: client,
		owned:  owned,
		store:  cfg.Table,
		node:   cfg.Table.Node(),
		log:    cfg.Logger,
		keys:   newKeys(cfg.Prefix),
		epoch:  time.Now(),
		sub:    cfg.Table.Subscribe(cfg.QueueSize),
		stop:   make(chan struct{}),
		done:   make(chan struct{}),
	}
	l.health.init()
	return l, nil
}

// take turns a change of the Table into an item to write; ok is false for
// what the ledger does not write: changes merged from gossip (their origin
// writes them) and from the ledger itself (no echo).
func (l *Ledger) take(tr state.Transition) (it item, ok bool) {
	if tr.Source != state.SourceLocal && tr.Source != state.SourceManual {
		return item{}, false
	}
	return item{rec: tr.Record, at: time.Since(l.epoch)}, true
}

// Stats returns the ledger's counters.
func (l *Ledger) Stats() Stats {
	s := &l.stats
	return Stats{
		Dropped: l.sub.Dropped(), Applied: s.applied.Load(), Stale: s.stale.Load(),
		Failed: s.failed.Load(), Received: s.received.Load(), Echoes: s.echoes.Load(),
		Invalid: s.invalid.Load(), Outages: s.outages.Load(), Reconciled: s.reconciled.Load(),
	}
}

// Healthy reports whether Redis was reachable at the last attempt.
func (l *Ledger) Healthy() bool { return l.health.isUp() }

// Run writes, reads and reconciles until ctx is done or Close is called,
// then flushes what is queued (bounded by FlushTimeout) and returns nil. If
// Snapshot did not succeed first, Run starts degraded: it keeps trying to
// reach Redis and, once it can, loads the snapshot and reconciles. Run may be
// called once; later calls return ErrRunning.
func (l *Ledger) Run(ctx context.Context) error {
	l.runMu.Lock()
	if l.started || l.closed {
		l.runMu.Unlock()
		return ErrRunning
	}
	l.started = true
	l.runMu.Unlock()
	defer close(l.done)

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	wg.Go(func() { l.flushLoop(ctx) })
	wg.Go(func() { l.readLoop(ctx) })
	wg.Go(func() { l.reconcileLoop(ctx) })
	select {
	case <-ctx.Done():
	case <-l.stop:
	}
	cancel()
	l.wakeReader()
	wg.Wait()
	l.dropWake()
	return nil
}

// wakeReader ends an XREAD blocked for up to ReadBlock: go-redis does not
// interrupt a blocking read when its context is cancelled, so the reader
// also reads this ledger's own wake stream, and shutdown writes to it. When
// Redis is down there is nothing to wake: the read has failed already.
func (l *Ledger) wakeReader() {
	if !l.health.isUp() {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	pipe := l.client.Pipeline()
	pipe.XAdd(ctx, &redis.XAddArgs{Stream: l.keys.wake, MaxLen: 1, Values: []any{"wake", "1"}})
	pipe.PExpire(ctx, l.keys.wake, time.Minute) // in case the Del below never runs
	_, _ = pipe.Exec(ctx)
}

// dropWake deletes the wake stream once the reader has stopped.
func (l *Ledger) dropWake() {
	if !l.health.isUp() {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	_ = l.client.Del(ctx, l.keys.wake).Err()
}

// Close stops Run, waits for its final flush and its loops, and closes the
// client if the ledger built it. It is idempotent.
func (l *Ledger) Close() error {
	l.closeMu.Do(func() {
		l.runMu.Lock()
		l.closed = true
		started := l.started
		l.runMu.Unlock()
		close(l.stop)
		if started {
			<-l.done
		}
		l.sub.Close()
		if l.owned {
			l.closeEr = l.client.Close()
		}
	})
	return l.closeEr
}

// isOutage reports whether err means Redis cannot be reached (as opposed to
// a reply the server gave, or our own cancellation).
func isOutage(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, redis.Nil) {
		return false
	}
	var rerr redis.Error
	if errors.As(err, &rerr) {
		for _, p := range []string{"LOADING", "CLUSTERDOWN", "MASTERDOWN", "TRYAGAIN", "READONLY"} {
			if redis.HasErrorPrefix(err, p) {
				return true
			}
		}
		return false
	}
	return true
}
