package coord

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/proxywhirl/retrycoord/internal/testutil"
	"github.com/proxywhirl/retrycoord/state"
)

// TestPoolApplyIsPutAndRemoveOneByOne: a batch leaves the pool as its
// removals and then its puts, one by one in order, would: the same
// entries, the list sorted by key and holding exactly them, an entry put
// again unchanged kept as it was (the same Upstream), one put with a new
// URL or metadata replacing it with its statistics carried over, one
// removed and put again in the same batch starting afresh; and it counts
// what those operations did (added, replaced, unchanged, removed). The model is a
// map changed one operation at a time; the batches are drawn from a fixed
// seed, so every run checks the same ones.
func TestPoolApplyIsPutAndRemoveOneByOne(t *testing.T) {
	type entry struct {
		u     *Upstream
		seen  int64 // outcomes its statistics hold
		fresh bool  // its statistics started afresh in this batch
	}
	rng := rand.New(rand.NewPCG(1, 2))
	p := newPool()
	model := map[string]entry{}
	key := func(i int) string { return fmt.Sprintf("http://p%03d.example:1", i) }
	for batch := range 300 {
		var puts []*Upstream
		var removes []string
		for range rng.IntN(4) {
			removes = append(removes, key(rng.IntN(60)))
		}
		for range rng.IntN(6) {
			i := rng.IntN(60)
			region := []string{"eu", "us"}[rng.IntN(2)]
			u, err := ParseUpstream(PoolEntry{URL: "http://" + key(i)[len("http://"):], Meta: map[string]string{"region": region}})
			if err != nil {
				t.Fatal(err)
			}
			puts = append(puts, u)
		}
		if batch%50 == 0 { // now and then, a big batch of new entries
			for i := range 40 {
				u, _ := ParseUpstream(PoolEntry{URL: fmt.Sprintf("http://big%d-%02d.example:1", batch, i)})
				puts = append(puts, u)
			}
		}

		// The model, one operation at a time.
		want := maps.Clone(model)
		var counts PoolChanged
		for _, k := range removes {
			if _, ok := want[k]; ok {
				delete(want, k)
				counts.Removed++
			}
		}
		for _, u := range puts {
			old, ok := want[u.key]
			if ok && old.u.url.String() == u.url.String() && maps.Equal(old.u.meta, u.meta) {
				counts.Unchanged++
				continue
			}
			e := entry{u: u, fresh: true}
			counts.Added++
			if ok {
				e = entry{u: u, seen: old.seen}
				counts.Added--
				counts.Replaced++
			}
			want[u.key] = e
		}

		if got := p.apply(puts, removes, 100); got != counts {
			t.Fatalf("batch %d: apply counted %+v, want %+v", batch, got, counts)
		}
		snap := p.load()
		keys := slices.Sorted(maps.Keys(want))
		var listed []string
		for _, u := range snap.list {
			listed = append(listed, u.key)
		}
		if !slices.Equal(listed, keys) {
			t.Fatalf("batch %d: list %v, want %v", batch, listed, keys)
		}
		for i, k := range keys {
			w := want[k]
			if snap.byKey[k] != w.u || snap.list[i] != w.u {
				t.Fatalf("batch %d: %s is not the Upstream the model holds (a kept entry must stay the same, a replaced one be the new one)", batch, k)
			}
			if n := w.u.stats.n.Load(); n != w.seen {
				t.Fatalf("batch %d: %s holds %d outcomes, want %d (fresh: %v)", batch, k, n, w.seen, w.fresh)
			}
		}
		// Every entry sees one more outcome before the next batch, so
		// that carried-over statistics are told from fresh ones.
		for k, e := range want {
			e.u.stats.record(true, time.Millisecond, 100)
			e.seen = min(e.seen+1, 100)
			want[k] = e
		}
		model = want
	}
}

// TestPoolFactsBurstLosesNothing: pool facts arriving faster than Run's
// subscription can hold (a node joining a fleet that shares a large pool)
// all reach the pool, removals too, even when every one of their
// transitions was dropped. Run is held inside its logger, by a bad fact,
// while breaker transitions fill its subscription and the burst of pool
// facts follows, so the burst is dropped every time.
func TestPoolFactsBurstLosesNothing(t *testing.T) {
	hold := &holdingHandler{held: make(chan struct{}), release: make(chan struct{})}
	c, err := New(Config{Logger: slog.New(hold)})
	if err != nil {
		t.Fatal(err)
	}
	run(t, c)
	t.Cleanup(hold.free) // before Run is stopped, should the test end early
	other, _ := state.NewTable(state.Config{Node: "other"})
	put := func(host string) {
		c.Table().Merge(other.PutFact(state.KindPool, "http://"+host, []byte(`{"url":"http://`+host+`"}`)), state.SourceGossip)
	}
	for i := range 10 {
		put(fmt.Sprintf("early%d.example:1", i))
	}
	testutil.Eventually(t, 5*time.Second, "the first facts applied", func() bool { return len(c.Upstreams()) == 10 })

	c.Table().Merge(other.PutFact(state.KindPool, "http://bad.example:1", []byte(`{"url":"ftp://bad.example:1"}`)), state.SourceGossip)
	<-hold.held // Run is logging the bad fact, and waits
	// More breaker transitions than Run's subscription holds.
	for i := range runBuffer + 100 {
		c.Table().Merge(state.Record{Upstream: fmt.Sprintf("http://tripped%d.example:1", i), Gen: 1, Phase: state.PhaseOpen,
			HLC: other.Clock().Now(), Origin: "other", OpenFor: time.Minute}, state.SourceGossip)
	}
	dropped := c.Table().Stats().Dropped
	if dropped == 0 {
		t.Fatal("the subscription dropped nothing: the case is not tested")
	}
	const burst = 1000
	for i := range burst {
		put(fmt.Sprintf("burst%d.example:1", i))
	}
	for i := range 10 {
		c.Table().Merge(other.DeleteFact(state.KindPool, fmt.Sprintf("http://early%d.example:1", i)), state.SourceGossip)
	}
	if d := c.Table().Stats().Dropped; d != dropped+burst+10 {
		t.Fatalf("the subscription dropped %d of the burst's %d transitions: the case is not tested", d-dropped, burst+10)
	}
	hold.free()

	testutil.Eventually(t, 10*time.Second, "every fact of the burst applied", func() bool {
		ups := c.Upstreams()
		if len(ups) != burst {
			return false
		}
		for _, u := range ups {
			if u.Key()[:len("http://burst")] != "http://burst" {
				return false
			}
		}
		return true
	})
	if n := c.BadFacts(); n != 1 {
		t.Errorf("BadFacts = %d, want 1", n)
	}
}

// holdingHandler is a slog.Handler that holds the first goroutine to log
// a warning until free is called, telling held when it has one.
type holdingHandler struct {
	once, freed sync.Once
	held        chan struct{}
	release     chan struct{}
}

func (h *holdingHandler) free() { h.freed.Do(func() { close(h.release) }) }

func (h *holdingHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h *holdingHandler) Handle(_ context.Context, r slog.Record) error {
	if r.Level >= slog.LevelWarn {
		h.once.Do(func() {
			close(h.held)
			<-h.release
		})
	}
	return nil
}
func (h *holdingHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *holdingHandler) WithGroup(string) slog.Handler      { return h }

// TestRemovalsAroundNew: a removal the table held before New leaves the
// pool New was given alone (the fleet removed that proxy before this node
// was configured with it), while one merged between New and Run is
// applied by Run, as any later one is.
func TestRemovalsAroundNew(t *testing.T) {
	tb, err := state.NewTable(state.Config{Node: "here"})
	if err != nil {
		t.Fatal(err)
	}
	other, _ := state.NewTable(state.Config{Node: "other"})
	fact := func(host string) state.Record {
		return other.PutFact(state.KindPool, "http://"+host, []byte(`{"url":"http://`+host+`"}`))
	}
	tb.Merge(fact("configured.example:1"), state.SourceLedger)
	tb.Merge(other.DeleteFact(state.KindPool, "http://configured.example:1"), state.SourceLedger)
	tb.Merge(fact("early.example:1"), state.SourceLedger)

	c, err := New(Config{Table: tb, Pool: []PoolEntry{{URL: "http://configured.example:1"}}})
	if err != nil {
		t.Fatal(err)
	}
	if c.Upstream("http://configured.example:1") == nil || c.Upstream("http://early.example:1") == nil {
		t.Fatalf("after New the pool is %v, want the configured proxy and the fact's", keysOf(c.Upstreams()))
	}
	tb.Merge(other.DeleteFact(state.KindPool, "http://early.example:1"), state.SourceGossip)
	tb.Merge(fact("late.example:1"), state.SourceGossip)
	run(t, c)
	t.Cleanup(func() { _ = c.Close() })
	testutil.Eventually(t, 5*time.Second, "Run to apply what was merged after New", func() bool {
		return c.Upstream("http://early.example:1") == nil && c.Upstream("http://late.example:1") != nil
	})
	if got := keysOf(c.Upstreams()); !slices.Equal(got, []string{"http://configured.example:1", "http://late.example:1"}) {
		t.Fatalf("pool %v, want the configured proxy and the late fact's", got)
	}
}

func keysOf(ups []*Upstream) []string {
	var out []string
	for _, u := range ups {
		out = append(out, u.Key())
	}
	return out
}
