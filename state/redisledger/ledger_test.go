package redisledger

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/proxywhirl/retrycoord/internal/redistest"
	"github.com/proxywhirl/retrycoord/internal/testutil"
	"github.com/proxywhirl/retrycoord/state"
	"github.com/redis/go-redis/v9"
)

// node is a table with a running, wired ledger.
type node struct {
	tb *state.Table
	l  *Ledger
}

func startNode(t *testing.T, name string, cfg Config) node {
	t.Helper()
	tb := newTable(t, name)
	cfg.Table = tb
	l := newLedger(t, cfg)
	if _, err := l.Snapshot(t.Context()); err != nil {
		t.Fatalf("Snapshot: %v", err)
	}
	run(t, l)
	return node{tb, l}
}

// Two nodes that do not gossip see each other's trips and facts through
// the stream.
func TestTwoLedgersShareTrips(t *testing.T) {
	srv := redistest.Start(t)
	testShareTrips(t, testConfig(srv.Addr(), nil))
}

func testShareTrips(t *testing.T, cfg Config) {
	a := startNode(t, "node-a", cfg)
	b := startNode(t, "node-b", cfg)

	tripA := a.tb.Trip("http://10.0.0.1:80", time.Minute, "seen failing")
	tripB := b.tb.Trip("http://10.0.0.2:80", time.Minute, "seen failing")
	a.tb.PutFact(state.KindPool, "http://10.0.0.3:80", []byte(`{"region":"eu"}`))
	testutil.Eventually(t, 10*time.Second, "b to see a's trip", func() bool {
		r, ok := b.tb.Record(tripA.Upstream)
		return ok && r.Gen == tripA.Gen && r.Phase == state.PhaseOpen && r.Origin == "node-a"
	})
	testutil.Eventually(t, 10*time.Second, "a to see b's trip", func() bool {
		r, ok := a.tb.Record(tripB.Upstream)
		return ok && r.Gen == tripB.Gen && r.Phase == state.PhaseOpen
	})
	testutil.Eventually(t, 10*time.Second, "b to see a's pool entry", func() bool {
		_, ok := b.tb.Fact(state.KindPool, "http://10.0.0.3:80")
		return ok
	})
	if r, _ := b.tb.Record(tripA.Upstream); r.OpenFor <= 0 || r.OpenFor > time.Minute {
		t.Errorf("b's copy of a's trip has OpenFor %v, want in (0, 1m]", r.OpenFor)
	}
	a.tb.Reset(tripA.Upstream)
	testutil.Eventually(t, 10*time.Second, "b to see a's reset", func() bool { return b.tb.State(tripA.Upstream) == state.PhaseClosed })
	testutil.Eventually(t, 10*time.Second, "both tables to agree", func() bool { return sameRecords(a.tb.Snapshot(), b.tb.Snapshot()) })
	if s := a.l.Stats(); s.Echoes == 0 {
		t.Errorf("a skipped no echoes of its own records: %+v", s)
	}
}

// A fresh table loaded by Snapshot equals the writer's.
func TestSnapshotLoadsFreshTable(t *testing.T) {
	srv := redistest.Start(t)
	testSnapshot(t, testConfig(srv.Addr(), nil))
}

func testSnapshot(t *testing.T, cfg Config) {
	w := startNode(t, "writer", cfg)
	for i := range 20 {
		up := fmt.Sprintf("http://10.0.1.%d:80", i)
		w.tb.Trip(up, time.Minute, "test")
		if i%3 == 0 {
			w.tb.Reset(up)
		}
	}
	// A pair's and a site's breakers are stored and loaded like a proxy's.
	w.tb.TripAt(state.PairKey("http://10.0.1.1:80", "example.com"), time.Minute, "banned")
	w.tb.TripAt(state.SiteKey("example.org"), time.Minute, "failing through 5 proxies")
	w.tb.PutFact(state.KindPool, "http://p:1", []byte("one"))
	w.tb.PutFact(state.KindPool, "http://p:2", []byte("two"))
	w.tb.DeleteFact(state.KindPool, "http://p:2")
	w.tb.PutFact(state.KindPolicy, "", []byte("policy v1"))
	want := w.tb.Snapshot()
	testutil.Eventually(t, 10*time.Second, "the ledger to hold the writer's records", func() bool {
		got, err := w.l.Records(t.Context())
		return err == nil && sameRecords(want, got)
	})

	fresh := newTable(t, "reader")
	cfg.Table = fresh
	r := newLedger(t, cfg)
	n, err := r.Snapshot(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if n != len(want) {
		t.Errorf("Snapshot changed %d records, want %d", n, len(want))
	}
	if diff := diffRecords(want, fresh.Snapshot()); diff != "" {
		t.Errorf("fresh table (-writer +fresh):\n%s", diff)
	}
	for _, rec := range fresh.Snapshot() {
		if rec.Phase == state.PhaseOpen && (rec.OpenFor <= 0 || rec.OpenFor > time.Minute) {
			t.Errorf("%s: OpenFor %v, want in (0, 1m]", rec.Upstream, rec.OpenFor)
		}
	}
}

// A node whose Redis is down starts anyway, within the snapshot timeout,
// and catches up once Redis is there.
func TestDegradedStart(t *testing.T) {
	srv := redistest.Start(t)
	srv.Stop(t)
	tb := newTable(t, "n1")
	cfg := testConfig(srv.Addr(), tb)
	cfg.SnapshotTimeout = 500 * time.Millisecond
	l := newLedger(t, cfg)
	if _, err := l.Snapshot(t.Context()); err == nil {
		t.Fatal("Snapshot succeeded with Redis down")
	}
	run(t, l)
	trip := tb.Trip("http://u:1", time.Minute, "down")
	srv.Start(t)
	testutil.Eventually(t, 10*time.Second, "the trip to reach the ledger", func() bool {
		recs, err := l.Records(t.Context())
		return err == nil && len(recs) == 1 && recs[0].Gen == trip.Gen
	})
}

// SIGKILL redis-server while appending: no caller blocks or fails, one Warn
// and one Info are logged, and after a restart the reconciler makes the
// ledger equal the table again.
func TestOutage(t *testing.T) {
	srv := redistest.Start(t)
	logs := &countingHandler{}
	cfg := testConfig(srv.Addr(), nil)
	cfg.QueueSize = 64
	cfg.Logger = slog.New(logs)
	n := startNode(t, "n1", cfg)

	var stop atomic.Bool
	var ops atomic.Int64
	var wg sync.WaitGroup
	for g := range 2 { // callers: trips and resets that the wire appends, plus direct appends
		wg.Go(func() {
			tick := time.NewTicker(time.Millisecond)
			defer tick.Stop()
			for i := 0; i < 20000 && !stop.Load(); i++ {
				up := fmt.Sprintf("http://10.0.%d.%d:80", g, i%40)
				if i%2 == 0 {
					n.tb.Trip(up, time.Minute, "outage test")
				} else {
					n.tb.Reset(up)
				}
				ops.Add(1)
				<-tick.C
			}
		})
	}
	testutil.Eventually(t, 10*time.Second, "writes to reach Redis", func() bool { return n.l.Stats().Applied > 20 })
	srv.Kill(t)
	testutil.Eventually(t, 10*time.Second, "the outage to be noticed", func() bool { return !n.l.Healthy() })
	before := ops.Load()
	testutil.Eventually(t, 10*time.Second, "callers to go on during the outage", func() bool { return ops.Load() > before+300 })
	srv.Start(t)
	testutil.Eventually(t, 15*time.Second, "the ledger to be healthy again", n.l.Healthy)
	after := ops.Load()
	testutil.Eventually(t, 10*time.Second, "callers to go on after the outage", func() bool { return ops.Load() > after+50 })
	stop.Store(true)
	wg.Wait()

	var recs []state.Record
	ok := false
	for deadline := time.Now().Add(15 * time.Second); !ok && time.Now().Before(deadline); {
		var err error
		recs, err = n.l.Records(t.Context())
		ok = err == nil && sameRecords(n.tb.Snapshot(), recs)
		if !ok {
			time.Sleep(10 * time.Millisecond)
		}
	}
	if !ok {
		t.Fatalf("the ledger does not equal the table (-table +ledger):\n%s\nstats %+v", diffRecords(n.tb.Snapshot(), recs), n.l.Stats())
	}
	s := n.l.Stats()
	if s.Outages != 1 || s.Dropped == 0 || s.Reconciled == 0 {
		t.Errorf("stats = %+v, want 1 outage, some dropped and some reconciled", s)
	}
	if w, i := logs.warn.Load(), logs.info.Load(); w != 1 || i != 1 {
		t.Errorf("logged %d Warn and %d Info, want 1 and 1", w, i)
	}
}

// A real three-master Redis Cluster: appends, the stream and Snapshot work
// there too, with the URL form of the config.
func TestCluster(t *testing.T) {
	c := redistest.StartCluster(t)
	addrs := c.Addrs()
	cfg := testConfig("", nil)
	cfg.URL = fmt.Sprintf("redis+cluster://%s?addr=%s&addr=%s", addrs[0], addrs[1], addrs[2])
	t.Run("share trips", func(t *testing.T) { testShareTrips(t, cfg) })
	cfg.Prefix = "snapshot-test"
	t.Run("snapshot", func(t *testing.T) { testSnapshot(t, cfg) })
}

func TestCloseIdempotentAndRunOnce(t *testing.T) {
	srv := redistest.Start(t)
	tb := newTable(t, "n1")
	cfg := testConfig(srv.Addr(), tb)
	cfg.ReadBlock = time.Minute // Close must wake the blocked XREAD, not wait it out
	l := newLedger(t, cfg)
	if _, err := l.Snapshot(t.Context()); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- l.Run(context.Background()) }()
	tb.Merge(breaker("u", 1, state.PhaseClosed, 1, "n1"), state.SourceLocal)
	testutil.Eventually(t, 5*time.Second, "Run to write the record", func() bool { return l.Stats().Applied == 1 })
	closed := make(chan error, 1)
	go func() { closed <- l.Close() }()
	select {
	case err := <-closed:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(20 * time.Second): // far below ReadBlock: a liveness bound, not a timing
		t.Fatal("Close did not wake the blocked stream reader")
	}
	for range 2 {
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
	}
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
	if n, err := redistest.Do(srv.Addr(), "EXISTS", l.keys.wake); err != nil || n != "0" {
		t.Errorf("EXISTS wake stream = %q, %v; want it deleted", n, err)
	}
	if err := l.Run(context.Background()); err != ErrRunning {
		t.Fatalf("Run after Close = %v, want ErrRunning", err)
	}
	tb.Merge(breaker("u", 2, state.PhaseClosed, 1, "n1"), state.SourceLocal) // must not block or panic
}

// Foreign or corrupt data in Redis is skipped and counted, never a panic
// and never a failed snapshot.
func TestBadDataInRedis(t *testing.T) {
	srv := redistest.Start(t)
	ctx := t.Context()
	tb := newTable(t, "n1")
	l := newLedger(t, testConfig(srv.Addr(), tb))
	c := l.client
	bogus := l.keys.record + "1:http://bogus:1"
	if err := c.Set(ctx, bogus, "not a hash", 0).Err(); err != nil {
		t.Fatal(err)
	}
	garbled := l.keys.record + "1:http://garbled:1"
	c.HSet(ctx, garbled, "c", "x", "r", "\x01\x63garbage", "t", "1")
	c.SAdd(ctx, l.keys.index, bogus, garbled)
	if _, err := l.Snapshot(ctx); err != nil {
		t.Fatalf("Snapshot: %v", err)
	}
	if got := l.Stats().Invalid; got != 2 {
		t.Errorf("Invalid after Snapshot = %d, want 2", got)
	}
	run(t, l)
	c.XAdd(ctx, &redis.XAddArgs{Stream: l.keys.stream, Values: []any{"o", "other", "r", "junk", "t", "1"}})
	c.XAdd(ctx, &redis.XAddArgs{Stream: l.keys.stream, Values: []any{"o", "other"}})
	testutil.Eventually(t, 5*time.Second, "the reader to count two invalid entries", func() bool { return l.Stats().Invalid == 4 })
	if len(tb.Snapshot()) != 0 {
		t.Errorf("bad data reached the table: %v", tb.Snapshot())
	}
}

// TestWritesOnlyLocalAndManual: the ledger writes the table's own changes,
// and neither what gossip brought (its origin writes it) nor what came from
// the ledger (no echo).
func TestWritesOnlyLocalAndManual(t *testing.T) {
	srv := redistest.Start(t)
	tb := newTable(t, "n1")
	l := newLedger(t, testConfig(srv.Addr(), tb))
	if _, err := l.Snapshot(t.Context()); err != nil {
		t.Fatal(err)
	}
	run(t, l)
	tb.Merge(breaker("http://gossip:1", 1, state.PhaseOpen, 1, "n2"), state.SourceGossip)
	tb.Merge(breaker("http://ledger:1", 1, state.PhaseOpen, 1, "n3"), state.SourceLedger)
	tb.Trip("http://manual:1", time.Minute, "operator")
	tk, _ := tb.Admit("http://local:1")
	tb.Settle(tk, state.OutcomeFailure, 0)
	for range 4 {
		tk, _ := tb.Admit("http://local:1")
		tb.Settle(tk, state.OutcomeFailure, 0)
	}
	testutil.Eventually(t, 5*time.Second, "the manual and the local trip written", func() bool { return l.Stats().Applied == 2 })
	recs, err := l.Records(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range recs {
		got = append(got, r.Upstream)
	}
	slices.Sort(got)
	if want := []string{"http://local:1", "http://manual:1"}; !slices.Equal(got, want) {
		t.Errorf("ledger holds %v, want %v", got, want)
	}
}
