package state

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/proxywhirl/retrycoord/policy"
)

func TestSubscription(t *testing.T) {
	tb, clk := newTestTable(t, "a", policy.BreakerPolicy{})
	sub := tb.Subscribe(2)
	tb.Trip(up, time.Second, "one")
	clk.Advance(time.Second)
	probe, _ := tb.Admit(up) // half-open
	tb.Settle(probe, OutcomeSuccess, 0)
	got := []string{}
	for range 2 {
		tr := <-sub.C
		got = append(got, fmt.Sprintf("%v>%v/%v", tr.From, tr.Record.Phase, tr.Source))
	}
	want := []string{"closed>open/manual", "open>half-open/local"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("transitions (-want +got):\n%s", diff)
	}
	if sub.Dropped() != 1 || tb.Stats().Dropped != 1 {
		t.Fatalf("Dropped = %d, want 1 (buffer of 2, three transitions)", sub.Dropped())
	}
	sub.Close()
	sub.Close()
	if _, ok := <-sub.C; ok {
		t.Fatal("C still open after Close")
	}
	tb.Trip(up, 0, "after close") // must not panic on a closed subscription
}

// TestSubscriptionMissedSignalsEveryDrop: Missed holds nothing until a
// transition is dropped, then one signal however many were, and signals
// again for a drop after it was read, each time after Dropped counted it.
func TestSubscriptionMissedSignalsEveryDrop(t *testing.T) {
	tb, _ := newTestTable(t, "a", policy.BreakerPolicy{})
	sub := tb.Subscribe(1)
	defer sub.Close()
	missed := func() bool {
		select {
		case <-sub.Missed:
			return true
		default:
			return false
		}
	}
	tb.PutFact(KindPool, "http://p1:1", nil) // fills C
	if missed() {
		t.Fatal("Missed signalled with nothing dropped")
	}
	tb.PutFact(KindPool, "http://p2:1", nil)
	tb.PutFact(KindPool, "http://p3:1", nil)
	if !missed() {
		t.Fatal("Missed not signalled after two drops")
	}
	if sub.Dropped() != 2 {
		t.Fatalf("Dropped = %d when Missed was read, want 2", sub.Dropped())
	}
	if missed() {
		t.Fatal("Missed signalled twice for drops before it was read")
	}
	tb.PutFact(KindPool, "http://p4:1", nil)
	if !missed() || sub.Dropped() != 3 {
		t.Fatalf("after a third drop: Missed not signalled or Dropped = %d, want 3", sub.Dropped())
	}
	<-sub.C
	tb.PutFact(KindPool, "http://p5:1", nil) // room again: delivered
	if missed() {
		t.Fatal("Missed signalled for a delivered transition")
	}
}

// TestTransitionSeqNumbersEveryFact: each fact stored is published with
// the next merge number, the one FactsSince counts by; an echo that
// changes nothing takes none, a breaker has none, and FactSeq is the last.
func TestTransitionSeqNumbersEveryFact(t *testing.T) {
	a, _ := newTestTable(t, "a", policy.BreakerPolicy{})
	b, _ := newTestTable(t, "b", policy.BreakerPolicy{})
	sub := b.Subscribe(16)
	defer sub.Close()
	if b.FactSeq() != 0 {
		t.Fatalf("FactSeq of an empty table = %d", b.FactSeq())
	}
	p1 := a.PutFact(KindPool, "http://p1:1", []byte("v1"))
	b.Merge(p1, SourceGossip)
	b.Merge(p1, SourceGossip) // an echo: not stored, not published
	b.Trip(up, time.Minute, "x")
	b.PutFact(KindPolicy, "", []byte("{}"))
	b.DeleteFact(KindPool, "http://p2:1")
	var got []string
	for range 4 {
		tr := <-sub.C
		got = append(got, fmt.Sprintf("%v:%d", tr.Record.Kind, tr.Seq))
	}
	if want := []string{"pool:1", "breaker:0", "policy:2", "pool:3"}; !slices.Equal(got, want) {
		t.Fatalf("published kinds:seq = %v, want %v", got, want)
	}
	if b.FactSeq() != 3 {
		t.Fatalf("FactSeq = %d, want 3", b.FactSeq())
	}
	if since, last := b.FactsSince(KindPool, 1); len(since) != 1 || !since[0].Deleted || last != 3 {
		t.Fatalf("FactsSince(pool, 1) = %v, %d; want the tombstone of p2, 3", since, last)
	}
}

func TestSnapshotLoadsIntoAFreshTable(t *testing.T) {
	a, _ := newTestTable(t, "a", policy.BreakerPolicy{})
	a.Trip("http://p1:1", time.Minute, "x")
	a.Trip("http://p2:1", time.Minute, "y")
	a.Reset("http://p2:1")
	succeed(t, a, "http://p3:1", 0) // pristine: not in the snapshot
	a.PutFact(KindPool, "http://p4:1", []byte(`{"region":"eu"}`))
	a.PutFact(KindPolicy, "", []byte(`{}`))
	a.DeleteFact(KindPool, "http://p5:1")

	b, _ := newTestTable(t, "b", policy.BreakerPolicy{})
	for _, r := range a.Snapshot() {
		b.Merge(r, SourceLedger)
	}
	sorted := func(rs []Record) []Record {
		slices.SortFunc(rs, func(x, y Record) int {
			return strings.Compare(fmt.Sprint(x.Kind, x.Upstream), fmt.Sprint(y.Kind, y.Upstream))
		})
		return rs
	}
	want, got := sorted(a.Snapshot()), sorted(b.Snapshot())
	if len(want) != 5 {
		t.Fatalf("a's snapshot has %d records, want 5: %+v", len(want), want)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("snapshots differ (-a +b):\n%s", diff)
	}
	if b.State("http://p1:1") != PhaseOpen {
		t.Fatal("loaded open breaker is not open")
	}
}

func TestFacts(t *testing.T) {
	a, clkA := newTestTable(t, "a", policy.BreakerPolicy{})
	b, _ := newTestTable(t, "b", policy.BreakerPolicy{})
	add := a.PutFact(KindPool, "http://p:1", []byte("v1"))
	clkA.Advance(time.Millisecond)
	del := a.DeleteFact(KindPool, "http://p:1")
	// b hears the removal first, then the older addition.
	if !b.Merge(del, SourceGossip) || b.Merge(add, SourceGossip) {
		t.Fatal("older addition beat a newer removal")
	}
	if _, ok := b.Fact(KindPool, "http://p:1"); ok {
		t.Fatal("removed entry is live on b")
	}
	readd := b.PutFact(KindPool, "http://p:1", []byte("v2"))
	a.Merge(readd, SourceGossip)
	got, ok := a.Fact(KindPool, "http://p:1")
	if !ok || string(got.Value) != "v2" || got.Origin != "b" {
		t.Fatalf("Fact on a = %+v, %v; want v2 from b", got, ok)
	}
	if n := len(a.Facts(KindPool)); n != 1 {
		t.Fatalf("Facts(pool) = %d, want 1", n)
	}
}

func TestEvictIdle(t *testing.T) {
	tb, clk := newTestTable(t, "a", policy.BreakerPolicy{})
	for i := range 1000 {
		succeed(t, tb, fmt.Sprintf("http://p%d:1", i), 0)
	}
	tb.Trip("http://p0:1", 0, "kept: not pristine")
	fail(t, tb, "http://p1:1") // kept while its failure is in the window
	if n := tb.EvictIdle(); n != 0 {
		t.Fatalf("first sweep evicted %d breakers that were just used", n)
	}
	if n := tb.EvictIdle(); n != 998 {
		t.Fatalf("second sweep evicted %d, want 998", n)
	}
	clk.Advance(2 * time.Minute)
	tb.EvictIdle()
	if n := tb.Len(); n != 1 {
		t.Fatalf("after the window passed %d breakers remain, want 1 (the tripped one)", n)
	}

	// A call admitted before its breaker is evicted is counted on the
	// breaker that replaces it.
	tk, _ := tb.Admit("http://late:1")
	tb.EvictIdle()
	tb.EvictIdle()
	tb.Settle(tk, OutcomeFailure, 0)
	if ev, ok := tb.Evidence("http://late:1"); !ok || ev.Buckets[0].Failures != 1 {
		t.Fatalf("failure of an evicted breaker's ticket lost: %+v %v", ev, ok)
	}
}

// TestConcurrentAdmitSettle runs many goroutines against shared upstreams
// and checks that every failure is counted exactly once and that each
// upstream tripped exactly when its count reached the threshold.
func TestConcurrentAdmitSettle(t *testing.T) {
	const (
		goroutines = 10
		perG       = 10
	)
	t.Run("10 goroutines x 10 failures are counted exactly", func(t *testing.T) {
		tb, _ := newTestTable(t, "a", policy.BreakerPolicy{FailureThreshold: goroutines*perG + 1})
		var wg sync.WaitGroup
		for range goroutines {
			wg.Go(func() {
				for range perG {
					tk, err := tb.Admit(up)
					if err != nil {
						t.Error(err)
						return
					}
					tb.Settle(tk, OutcomeFailure, 0)
				}
			})
		}
		wg.Wait()
		ev, _ := tb.Evidence(up)
		var sum uint32
		for _, b := range ev.Buckets {
			sum += b.Failures
		}
		if sum != goroutines*perG {
			t.Fatalf("counted %d failures, want %d", sum, goroutines*perG)
		}
		wantPhase(t, tb, up, PhaseClosed)
		fail(t, tb, up)
		wantPhase(t, tb, up, PhaseOpen)
	})
	t.Run("20,000 admits and settles over 50 upstreams", func(t *testing.T) {
		tb, clk := newTestTable(t, "a", policy.BreakerPolicy{FailureThreshold: 10_000})
		sub := tb.Subscribe(100_000)
		var wg sync.WaitGroup
		var mu sync.Mutex
		failures := map[string]int{}
		for g := range 40 {
			wg.Go(func() {
				local := map[string]int{}
				for i := range 500 {
					u := fmt.Sprintf("http://p%d:1", (g*7+i)%50)
					tk, err := tb.Admit(u)
					if err != nil {
						t.Error(err)
						return
					}
					switch i % 3 {
					case 0:
						tb.Settle(tk, OutcomeFailure, time.Millisecond)
						local[u]++
					case 1:
						tb.Settle(tk, OutcomeSuccess, time.Millisecond)
					default:
						tb.Settle(tk, OutcomeAbandoned, 0)
					}
					if i%100 == 0 {
						_ = tb.Snapshot()
						_ = tb.Eligible(u)
						clk.Advance(time.Millisecond)
					}
				}
				mu.Lock()
				for k, v := range local {
					failures[k] += v
				}
				mu.Unlock()
			})
		}
		wg.Wait()
		total := 0
		for u, want := range failures {
			ev, _ := tb.Evidence(u)
			got := 0
			for _, b := range ev.Buckets {
				got += int(b.Failures)
			}
			if got != want {
				t.Errorf("%s: counted %d failures, want %d", u, got, want)
			}
			total += got
		}
		if total != 40*167 {
			t.Fatalf("total failures %d, want %d", total, 40*167)
		}
		if len(sub.C) != 0 {
			t.Fatalf("%d transitions without any trip", len(sub.C))
		}
	})
}

// TestLookupsLoseNoBreaker: however creations, eviction sweeps and lookups
// of unknown keys interleave (the index promotes its maps as lookups miss
// and on every sweep), every breaker created is found again, at each level.
func TestLookupsLoseNoBreaker(t *testing.T) {
	levels := []struct {
		name string
		key  func(i int) Key
	}{
		{"proxy", func(i int) Key { return ProxyKey(fmt.Sprintf("http://p%d:1", i)) }},
		{"pair", func(i int) Key { return PairKey("http://p:1", fmt.Sprintf("s%d.example", i)) }},
		{"site", func(i int) Key { return SiteKey(fmt.Sprintf("s%d.example", i)) }},
	}
	for _, lv := range levels {
		t.Run(lv.name, func(t *testing.T) {
			tb, _ := newTestTable(t, "a", policy.BreakerPolicy{})
			const n = 20
			for i := range n {
				tb.TripAt(lv.key(i), time.Minute, "")
				if i%5 == 4 {
					tb.EvictIdle() // promotes the index's maps; evicts no tripped breaker
				}
				for j := range i % 4 {
					if got := tb.StateAt(lv.key(1000 + 10*i + j)); got != PhaseClosed {
						t.Fatalf("StateAt(unknown) = %v, want closed", got)
					}
				}
				for k := range i + 1 {
					if got := tb.StateAt(lv.key(k)); got != PhaseOpen {
						t.Fatalf("after %d trips: StateAt(%v) = %v, want open", i+1, lv.key(k), got)
					}
				}
			}
		})
	}
}

// TestRecordOfAPristineBreaker: a breaker that counted failures but never
// moved has no record; one that merged a record of generation 0 (a close
// from a node that never saw a trip) has one.
func TestRecordOfAPristineBreaker(t *testing.T) {
	tb, _ := newTestTable(t, "a", policy.BreakerPolicy{})
	fail(t, tb, up)
	if rec, ok := tb.Record(up); ok {
		t.Errorf("Record of a breaker that only failed once = %+v, true; want none", rec)
	}
	if rec, ok := tb.Record("http://unknown:1"); ok {
		t.Errorf("Record of an unknown upstream = %+v, true; want none", rec)
	}
	closed := Record{Upstream: "http://other:1", Phase: PhaseClosed, HLC: NewHLC(1, 0), Origin: "b"}
	if !tb.Merge(closed, SourceGossip) {
		t.Fatal("a generation-0 close did not merge into a pristine breaker")
	}
	if rec, ok := tb.Record("http://other:1"); !ok || rec.HLC != closed.HLC {
		t.Errorf("Record after a generation-0 close = %+v, %v; want it", rec, ok)
	}
}

// TestFactsSince: a reader that passes back the number it was given sees
// every fact that changed since, in its latest form and tombstones
// included, and only those; a merge that changes nothing and facts of
// another kind do not count; a subscription that dropped transitions
// misses nothing this way.
func TestFactsSince(t *testing.T) {
	a, clkA := newTestTable(t, "a", policy.BreakerPolicy{})
	b, _ := newTestTable(t, "b", policy.BreakerPolicy{})
	sub := b.Subscribe(1)
	defer sub.Close()
	keys := func(rs []Record) []string {
		var out []string
		for _, r := range rs {
			k := r.Upstream + "=" + string(r.Value)
			if r.Deleted {
				k = r.Upstream + " deleted"
			}
			out = append(out, k)
		}
		return out
	}

	all, seq := b.FactsSince(KindPool, 0)
	if len(all) != 0 || seq != 0 {
		t.Fatalf("an empty table: FactsSince(0) = %v, %d", all, seq)
	}
	p1 := a.PutFact(KindPool, "http://p1:1", []byte("v1"))
	p2 := a.PutFact(KindPool, "http://p2:1", []byte("v1"))
	b.Merge(p2, SourceGossip)
	b.Merge(p1, SourceGossip)
	b.Merge(a.PutFact(KindPolicy, "", []byte("{}")), SourceGossip)
	got, seq := b.FactsSince(KindPool, seq)
	if want := []string{"http://p1:1=v1", "http://p2:1=v1"}; !slices.Equal(keys(got), want) {
		t.Fatalf("first read = %v, want %v (sorted by key)", keys(got), want)
	}

	// Nothing changed: nothing to read, the number stays.
	b.Merge(p1, SourceGossip)
	if got, again := b.FactsSince(KindPool, seq); len(got) != 0 || again != seq {
		t.Fatalf("after an echo: %v, %d; want nothing, %d", keys(got), again, seq)
	}

	// p1 changes twice and p2 is removed: one read gives the latest of
	// each, although the subscription (one slot) dropped some of them.
	clkA.Advance(time.Millisecond)
	b.Merge(a.PutFact(KindPool, "http://p1:1", []byte("v2")), SourceGossip)
	clkA.Advance(time.Millisecond)
	b.Merge(a.PutFact(KindPool, "http://p1:1", []byte("v3")), SourceGossip)
	b.Merge(a.DeleteFact(KindPool, "http://p2:1"), SourceGossip)
	b.Merge(a.PutFact(KindPool, "http://p3:1", []byte("v1")), SourceGossip)
	if sub.Dropped() == 0 {
		t.Fatal("the subscription of one slot dropped nothing: the case is not tested")
	}
	got, seq2 := b.FactsSince(KindPool, seq)
	if want := []string{"http://p1:1=v3", "http://p2:1 deleted", "http://p3:1=v1"}; !slices.Equal(keys(got), want) {
		t.Fatalf("second read = %v, want %v", keys(got), want)
	}
	if seq2 <= seq {
		t.Fatalf("the number went from %d to %d", seq, seq2)
	}
	if got, _ := b.FactsSince(KindPool, seq2); len(got) != 0 {
		t.Fatalf("a third read with nothing new = %v", keys(got))
	}
	if live := keys(b.Facts(KindPool)); !slices.Equal(live, []string{"http://p1:1=v3", "http://p3:1=v1"}) {
		t.Fatalf("Facts leaves tombstones out: got %v", live)
	}
}

// TestMergeOfAnEqualFactChangesNothing: a fact merged again (a duplicate,
// an echo) reports no change and is not published again, so a gossiping
// node does not pass it on.
func TestMergeOfAnEqualFactChangesNothing(t *testing.T) {
	a, _ := newTestTable(t, "a", policy.BreakerPolicy{})
	b, _ := newTestTable(t, "b", policy.BreakerPolicy{})
	rec := a.PutFact(KindPool, "http://p:1", []byte("v1"))
	sub := b.Subscribe(8)
	defer sub.Close()
	if !b.Merge(rec, SourceGossip) {
		t.Fatal("a new fact did not merge")
	}
	<-sub.C
	if b.Merge(rec, SourceGossip) {
		t.Error("the same fact merged again reports a change")
	}
	if n := len(sub.C); n != 0 {
		t.Errorf("the same fact merged again published %d transitions", n)
	}
}

// TestSubscriptionsIndependent: closing one subscription leaves the others
// receiving; a buffer of 0 or less means DefaultSubscriptionBuffer.
func TestSubscriptionsIndependent(t *testing.T) {
	tb, _ := newTestTable(t, "a", policy.BreakerPolicy{})
	first, second, third := tb.Subscribe(0), tb.Subscribe(-1), tb.Subscribe(4)
	defer first.Close()
	defer third.Close()
	if cap(first.C) != DefaultSubscriptionBuffer || cap(second.C) != DefaultSubscriptionBuffer {
		t.Errorf("buffers of Subscribe(0) and (-1) = %d and %d, want %d", cap(first.C), cap(second.C), DefaultSubscriptionBuffer)
	}
	second.Close()
	tb.Trip(up, time.Minute, "")
	for i, s := range []*Subscription{first, third} {
		if n := len(s.C); n != 1 {
			t.Errorf("subscription %d still open got %d transitions, want 1", i, n)
		}
	}
}

// TestFactsSinceAgainstAModel: over thousands of random changes to a few
// dozen pool facts and a policy (so that the table's log of changes is
// compacted many times), after ten facts written once at the start,
// FactsSince from any number it returned earlier
// gives exactly the pool facts whose last change came after it, each in
// its latest form, as a plain map of keys to their last change says.
func TestFactsSinceAgainstAModel(t *testing.T) {
	tb, _ := newTestTable(t, "a", policy.BreakerPolicy{})
	type last struct {
		seq     uint64
		value   string
		deleted bool
	}
	model := map[string]last{}
	rng := rand.New(rand.NewPCG(17, 4))
	var seqs []uint64
	for i := range 10 { // cold: written once, before thousands of others
		key := fmt.Sprintf("http://10.0.1.%d:80", i)
		tb.PutFact(KindPool, key, []byte("cold"))
		model[key] = last{seq: tb.FactSeq(), value: "cold"}
		seqs = append(seqs, tb.FactSeq())
	}
	for op := range 6000 {
		key := fmt.Sprintf("http://10.0.0.%d:80", rng.IntN(40))
		switch n := rng.IntN(10); {
		case n == 0:
			tb.PutFact(KindPolicy, "", []byte(fmt.Sprint(op)))
		case n < 3:
			tb.DeleteFact(KindPool, key)
			model[key] = last{seq: tb.FactSeq(), deleted: true}
		default:
			v := fmt.Sprint(op)
			tb.PutFact(KindPool, key, []byte(v))
			model[key] = last{seq: tb.FactSeq(), value: v}
		}
		seqs = append(seqs, tb.FactSeq())
		if op%97 != 0 {
			continue
		}
		for range 5 {
			since := seqs[rng.IntN(len(seqs))]
			var want []string
			for k, l := range model {
				if l.seq > since {
					want = append(want, fmt.Sprintf("%s=%s/%v", k, l.value, l.deleted))
				}
			}
			slices.Sort(want)
			recs, lastSeq := tb.FactsSince(KindPool, since)
			var got []string
			for _, r := range recs {
				got = append(got, fmt.Sprintf("%s=%s/%v", r.Upstream, r.Value, r.Deleted))
			}
			if !slices.Equal(got, want) || lastSeq != tb.FactSeq() {
				t.Fatalf("op %d, FactsSince(%d) = %v, %d\nwant %v, %d", op, since, got, lastSeq, want, tb.FactSeq())
			}
		}
	}
	if got, _ := tb.FactsSince(KindPool, 1<<64-1); len(got) != 0 {
		t.Fatalf("FactsSince(the largest number) = %v", got)
	}
	// The log of changes stays within twice the facts (or its floor),
	// however many changes there were.
	if n, bound := len(tb.factLog.entries), max(minFactLog, 2*len(tb.facts))+1; n > bound {
		t.Fatalf("the log holds %d changes of %d facts, over %d", n, len(tb.facts), bound)
	}
}
