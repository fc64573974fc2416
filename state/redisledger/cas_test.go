package redisledger

import (
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/proxywhirl/retrycoord/internal/redistest"
	"github.com/proxywhirl/retrycoord/internal/testutil"
	"github.com/proxywhirl/retrycoord/state"
	"github.com/redis/go-redis/v9"
)

func breaker(up string, gen uint64, ph state.Phase, hlc uint64, origin string) state.Record {
	r := state.Record{Kind: state.KindBreaker, Upstream: up, Gen: gen, Phase: ph, HLC: state.HLC(hlc), Origin: origin,
		Reason: fmt.Sprintf("g%d p%d h%d %s", gen, ph, hlc, origin)}
	if ph == state.PhaseOpen {
		r.OpenFor = time.Minute
	}
	return r
}

func TestCASKeepsTheMax(t *testing.T) {
	srv := redistest.Start(t)
	l := newLedger(t, testConfig(srv.Addr(), newTable(t, "n1")))
	ctx := t.Context()
	const big = 1 << 53 // above it a double cannot tell n from n+1
	steps := []struct {
		name string
		rec  state.Record
		want bool
	}{
		{"first", breaker("u", 2, state.PhaseOpen, 100, "a"), true},
		{"same again", breaker("u", 2, state.PhaseOpen, 100, "a"), false},
		{"older gen", breaker("u", 1, state.PhaseClosed, 999, "z"), false},
		{"later phase", breaker("u", 2, state.PhaseHalfOpen, 50, "a"), true},
		{"earlier phase", breaker("u", 2, state.PhaseOpen, 999, "z"), false},
		{"close", breaker("u", 2, state.PhaseClosed, 60, "a"), true},
		{"older hlc", breaker("u", 2, state.PhaseClosed, 59, "z"), false},
		{"higher origin", breaker("u", 2, state.PhaseClosed, 60, "b"), true},
		{"lower origin", breaker("u", 2, state.PhaseClosed, 60, "a"), false},
		{"big gen", breaker("u", big, state.PhaseOpen, 1, "a"), true},
		{"big gen + 1", breaker("u", big+1, state.PhaseOpen, 1, "a"), true},
		{"big gen again", breaker("u", big, state.PhaseClosed, 1<<63, "z"), false},
		{"big hlc", breaker("u", big+1, state.PhaseOpen, 1<<63+1, "a"), true},
		{"big hlc - 1", breaker("u", big+1, state.PhaseOpen, 1<<63, "z"), false},
	}
	applied := 0
	for _, st := range steps {
		got, err := l.Write(ctx, st.rec)
		if err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		if got != st.want {
			t.Errorf("%s: Write applied = %v, want %v", st.name, got, st.want)
		}
		if got {
			applied++
		}
	}
	recs, err := l.Records(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := []state.Record{breaker("u", big+1, state.PhaseOpen, 1<<63+1, "a")}
	if diff := diffRecords(want, recs); diff != "" {
		t.Errorf("ledger (-want +got):\n%s", diff)
	}
	// One stream entry per applied change, none for a rejected one.
	n, err := l.client.XLen(ctx, l.keys.stream).Result()
	if err != nil {
		t.Fatal(err)
	}
	if n != int64(applied) {
		t.Errorf("stream length = %d, want %d (applied changes)", n, applied)
	}
}

// Eight goroutines over two clients write random records; the ledger ends
// with the maximum of each key, and one stream entry per applied write.
func TestCASConcurrentConverges(t *testing.T) {
	srv := redistest.Start(t)
	ctx := t.Context()
	ledgers := []*Ledger{
		newLedger(t, testConfig(srv.Addr(), newTable(t, "n1"))),
		newLedger(t, testConfig(srv.Addr(), newTable(t, "n2"))),
	}
	upstreams := []string{"http://a:1", "http://b:1", "http://c:1", "http://d:1"}
	var mu sync.Mutex
	maxOf := map[string]state.Record{}
	var wg sync.WaitGroup
	for g := range 8 {
		l := ledgers[g%2]
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(g), 7))
			for range 150 {
				rec := breaker(upstreams[r.IntN(len(upstreams))], 1<<60+uint64(r.IntN(3)),
					state.Phase(1+r.IntN(3)), 1<<62+uint64(r.IntN(50)), fmt.Sprintf("node-%d", g))
				if _, err := l.Write(ctx, rec); err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				maxOf[rec.Upstream] = state.Max(maxOf[rec.Upstream], rec)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	var want []state.Record
	for _, r := range maxOf {
		want = append(want, r)
	}
	got, err := ledgers[0].Records(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if diff := diffRecords(want, got); diff != "" {
		t.Errorf("ledger (-want +got):\n%s", diff)
	}
	applied := ledgers[0].Stats().Applied + ledgers[1].Stats().Applied
	if n, _ := ledgers[0].client.XLen(ctx, ledgers[0].keys.stream).Result(); uint64(n) != applied {
		t.Errorf("stream length = %d, want %d (applied writes)", n, applied)
	}
}

func TestTTL(t *testing.T) {
	srv := redistest.Start(t)
	cfg := testConfig(srv.Addr(), newTable(t, "n1"))
	cfg.OpenGrace = 30 * time.Second
	l := newLedger(t, cfg)
	ctx := t.Context()
	pttl := func(r state.Record) time.Duration {
		t.Helper()
		d, err := l.client.PTTL(ctx, l.keys.of(r)).Result()
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	write := func(r state.Record) {
		t.Helper()
		if ok, err := l.Write(ctx, r); err != nil || !ok {
			t.Fatalf("Write = %v, %v", ok, err)
		}
	}

	open := breaker("u", 1, state.PhaseOpen, 1, "a")
	open.OpenFor = 10 * time.Second
	write(open)
	if d := pttl(open); d <= 30*time.Second || d > 40*time.Second {
		t.Errorf("open record TTL = %v, want in (30s, 40s]", d)
	}
	half := breaker("u", 1, state.PhaseHalfOpen, 2, "a")
	write(half)
	if d := pttl(half); d <= 0 || d > 30*time.Second {
		t.Errorf("half-open record TTL = %v, want in (0, 30s]", d)
	}
	closed := breaker("u", 1, state.PhaseClosed, 3, "a")
	write(closed)
	if d := pttl(closed); d != -1 {
		t.Errorf("closed record TTL = %v, want none (-1)", d)
	}
	fact := state.Record{Kind: state.KindPool, Upstream: "http://p:1", HLC: 1, Origin: "a", Value: []byte("v")}
	write(fact)
	if d := pttl(fact); d != -1 {
		t.Errorf("fact TTL = %v, want none (-1)", d)
	}

	// An expired open record disappears from Records and from the index.
	short := breaker("x", 1, state.PhaseOpen, 1, "a")
	short.OpenFor = 0
	cfg2 := cfg
	cfg2.OpenGrace = time.Millisecond
	cfg2.Table = newTable(t, "n2")
	if ok, err := newLedger(t, cfg2).Write(ctx, short); err != nil || !ok {
		t.Fatalf("Write = %v, %v", ok, err)
	}
	testutil.Eventually(t, 5*time.Second, "the short-lived record to expire", func() bool {
		return l.client.Exists(ctx, l.keys.of(short)).Val() == 0
	})
	if _, err := l.Records(ctx); err != nil {
		t.Fatal(err)
	}
	if ok, _ := l.client.SIsMember(ctx, l.keys.index, l.keys.of(short)).Result(); ok {
		t.Error("expired key still in the index after a load")
	}
}

// A flushed script cache (or a restarted server) makes EVALSHA fail with
// NOSCRIPT; the flusher falls back to EVAL.
func TestNoScriptFallback(t *testing.T) {
	srv := redistest.Start(t)
	tb := newTable(t, "n1")
	l := newLedger(t, testConfig(srv.Addr(), tb))
	client := redis.NewClient(&redis.Options{Addr: srv.Addr()})
	defer client.Close()
	if _, err := l.Snapshot(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := client.ScriptFlush(t.Context()).Err(); err != nil {
		t.Fatal(err)
	}
	run(t, l)
	tb.Merge(breaker("u", 1, state.PhaseClosed, 1, "n1"), state.SourceLocal)
	testutil.Eventually(t, 5*time.Second, "the record to be applied", func() bool { return l.Stats().Applied == 1 })
	if s := l.Stats(); s.Failed != 0 {
		t.Errorf("Failed = %d, want 0", s.Failed)
	}
}
