package state

import (
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"testing/quick"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/proxywhirl/retrycoord/policy"
)

// randomRecord draws a breaker record from a small space, so that equal
// generations, phases and clocks are common.
func randomRecord(r *rand.Rand) Record {
	origins := []string{"a", "b", "c"}
	return Record{
		Kind:     KindBreaker,
		Upstream: up,
		Gen:      r.Uint64N(4),
		Phase:    Phase(1 + r.IntN(3)),
		HLC:      NewHLC(1_700_000_000_000+r.Int64N(3), uint16(r.IntN(2))),
		Origin:   origins[r.IntN(len(origins))],
		OpenFor:  time.Duration(r.IntN(3)) * time.Second,
		Reason:   []string{"x", "y"}[r.IntN(2)],
	}
}

func TestMergeIsAMaxRegister(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for range 5000 {
		a, b, c := randomRecord(r), randomRecord(r), randomRecord(r)
		if diff := cmp.Diff(Max(a, b), Max(b, a)); diff != "" {
			t.Fatalf("not commutative (-ab +ba):\n%s", diff)
		}
		if diff := cmp.Diff(Max(Max(a, b), c), Max(a, Max(b, c))); diff != "" {
			t.Fatalf("not associative (-left +right):\n%s", diff)
		}
		if diff := cmp.Diff(a, Max(a, a)); diff != "" {
			t.Fatalf("not idempotent:\n%s", diff)
		}
	}
}

func TestCompareIsATotalOrder(t *testing.T) {
	f := func(g1, g2 uint64, p1, p2 uint8, h1, h2 uint64, o1, o2 string) bool {
		a := Record{Gen: g1 % 3, Phase: Phase(p1 % 4), HLC: HLC(h1 % 3), Origin: o1}
		b := Record{Gen: g2 % 3, Phase: Phase(p2 % 4), HLC: HLC(h2 % 3), Origin: o2}
		return Compare(a, b) == -Compare(b, a) && (Compare(a, b) != 0) == (cmp.Diff(a, b) != "")
	}
	if err := quick.Check(f, nil); err != nil {
		t.Fatal(err)
	}
}

// TestTableMergeOrderIndependent applies the same records in many orders,
// with duplicates, to fresh tables: every table must end on the same record.
func TestTableMergeOrderIndependent(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for trial := range 200 {
		recs := make([]Record, 1+r.IntN(8))
		for i := range recs {
			recs[i] = randomRecord(r)
			recs[i].OpenFor = 0 // remaining open time is not part of the register
		}
		var want Record
		for i := range 5 {
			tb, _ := newTestTable(t, "z", policy.BreakerPolicy{})
			order := slices.Clone(recs)
			order = append(order, recs[r.IntN(len(recs))]) // a duplicate
			r.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
			for _, rec := range order {
				tb.Merge(rec, SourceGossip)
			}
			got, _ := tb.Record(up)
			got.OpenFor = 0
			if i == 0 {
				want = got
				continue
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Fatalf("trial %d: order changed the result (-first +now):\n%s", trial, diff)
			}
		}
	}
}

func TestTripBeatsEveryCloseItHasSeen(t *testing.T) {
	a, _ := newTestTable(t, "a", policy.BreakerPolicy{})
	b, clkB := newTestTable(t, "b", policy.BreakerPolicy{})
	open1 := a.Trip(up, time.Second, "")
	b.Merge(open1, SourceGossip)
	clkB.Advance(time.Second)
	closed1, _ := b.Reset(up) // gen 1 closed, seen by a below
	a.Merge(closed1, SourceGossip)
	open2 := a.Trip(up, 0, "") // a trips again after seeing the close
	if open2.Gen != 2 {
		t.Fatalf("trip after seeing close of gen 1 wrote gen %d, want 2", open2.Gen)
	}
	if !b.Merge(open2, SourceGossip) {
		t.Fatal("b rejected a trip that followed its close")
	}
	wantPhase(t, b, up, PhaseOpen)

	// c never saw open2 and closes generation 1 once more: that close must
	// not undo the open it has not seen.
	c, _ := newTestTable(t, "c", policy.BreakerPolicy{})
	c.Merge(open1, SourceGossip)
	lateClose, _ := c.Reset(up)
	if b.Merge(lateClose, SourceLedger) {
		t.Fatal("a close of gen 1 undid an open of gen 2")
	}
	wantPhase(t, b, up, PhaseOpen)
}

func TestConcurrentTripsEndInOneGeneration(t *testing.T) {
	a, _ := newTestTable(t, "a", policy.BreakerPolicy{})
	b, _ := newTestTable(t, "b", policy.BreakerPolicy{})
	ra := a.Trip(up, 0, "")
	rb := b.Trip(up, 0, "")
	a.Merge(rb, SourceGossip)
	b.Merge(ra, SourceGossip)
	ga, _ := a.Record(up)
	gb, _ := b.Record(up)
	if ga.Gen != 1 || gb.Gen != 1 || ga.Origin != gb.Origin || ga.HLC != gb.HLC {
		t.Fatalf("a holds %+v, b holds %+v: want one record, gen 1", ga, gb)
	}
}

func TestMergeRejectsNonsense(t *testing.T) {
	tb, _ := newTestTable(t, "a", policy.BreakerPolicy{})
	for _, rec := range []Record{
		{Upstream: "", Gen: 1, Phase: PhaseOpen},
		{Upstream: up, Gen: 1, Phase: 0},
		{Upstream: up, Gen: 1, Phase: 9},
	} {
		if tb.Merge(rec, SourceGossip) {
			t.Errorf("Merge(%+v) = true, want rejected", rec)
		}
	}
	if n := len(tb.Snapshot()); n != 0 {
		t.Fatalf("Snapshot has %d records after rejected merges", n)
	}
}

func TestHLC(t *testing.T) {
	clk := newFakeClock()
	c := NewClock(clk.Now, 2*time.Second)
	h1 := c.Now()
	h2 := c.Now()
	if h2 <= h1 || h2.WallMillis() != h1.WallMillis() || h2.Logical() != 1 {
		t.Fatalf("same millisecond: %v then %v", h1, h2)
	}
	// A remote reading a little ahead is followed.
	ahead := NewHLC(clk.Now().Add(time.Second).UnixMilli(), 7)
	if c.Observe(ahead) {
		t.Fatal("a reading 1s ahead was clamped")
	}
	if h := c.Now(); h <= ahead {
		t.Fatalf("Now after Observe = %v, want > %v", h, ahead)
	}
	// A remote reading far ahead is clamped and counted.
	far := NewHLC(clk.Now().Add(time.Hour).UnixMilli(), 0)
	if !c.Observe(far) || c.Clamped() != 1 {
		t.Fatal("a reading 1h ahead was not clamped")
	}
	if h := c.Now(); h.Time().After(clk.Now().Add(2*time.Second + time.Millisecond)) {
		t.Fatalf("clock jumped to %v", h.Time())
	}
}

// TestMergeKeyBounds: a breaker record whose key is within the codec's
// bounds (MaxKeyLen, MaxSiteLen) merges, one byte more does not; a site
// with a space (which would make Key.String ambiguous) does not either.
func TestMergeKeyBounds(t *testing.T) {
	proxy := func(n int) string { return "http://" + strings.Repeat("p", n-len("http://")) }
	site := func(n int) string { return strings.Repeat("s", n) }
	for _, tt := range []struct {
		name string
		key  Key
		want bool
	}{
		{"proxy of MaxKeyLen", ProxyKey(proxy(MaxKeyLen)), true},
		{"proxy of MaxKeyLen+1", ProxyKey(proxy(MaxKeyLen + 1)), false},
		{"site of MaxSiteLen", SiteKey(site(MaxSiteLen)), true},
		{"site of MaxSiteLen+1", SiteKey(site(MaxSiteLen + 1)), false},
		{"pair at both bounds", PairKey(proxy(MaxKeyLen), site(MaxSiteLen)), true},
		{"site with a space", SiteKey("a b.example"), false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			tb, _ := newTestTable(t, "a", policy.BreakerPolicy{})
			rec := Record{Upstream: tt.key.Proxy, Site: tt.key.Site, Gen: 1, Phase: PhaseOpen, HLC: 1, Origin: "b", OpenFor: time.Minute}
			if got := tb.Merge(rec, SourceGossip); got != tt.want {
				t.Errorf("Merge = %v, want %v", got, tt.want)
			}
		})
	}
}

// TestObserveExactlyMaxSkewAhead: a remote reading exactly MaxSkew ahead of
// local wall time is followed, not clamped; one logical tick more is.
func TestObserveExactlyMaxSkewAhead(t *testing.T) {
	clk := newFakeClock()
	c := NewClock(clk.Now, 2*time.Second)
	limit := NewHLC(clk.Now().Add(2*time.Second).UnixMilli(), 0)
	if c.Observe(limit) || c.Clamped() != 0 {
		t.Errorf("a reading exactly MaxSkew ahead was clamped")
	}
	if !c.Observe(limit+1) || c.Clamped() != 1 {
		t.Errorf("a reading past MaxSkew was not clamped")
	}
}
