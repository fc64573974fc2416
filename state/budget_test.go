package state

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/proxywhirl/retrycoord/policy"
)

// grants asks for retries until the budget says no, and returns how many
// it granted (at most limit).
func grants(tb *Table, site string, b policy.RetryBudget, now time.Time, limit int) int {
	n := 0
	for n < limit && tb.ChargeRetry(site, b, now) {
		n++
	}
	return n
}

// exchange sends every table's budget counts to every other table.
func exchange(tables ...*Table) {
	for _, from := range tables {
		counts := from.BudgetCounts(nil)
		for _, to := range tables {
			if to != from {
				to.MergeBudget(from.Node(), counts)
			}
		}
	}
}

func TestBudgetRatioOfFirstsPlusFloor(t *testing.T) {
	tb, clk := newTestTable(t, "a", policy.BreakerPolicy{})
	b := policy.RetryBudget{Ratio: 0.1, MinPerSecond: 0.5, Window: 10 * time.Second}
	now := clk.Now()
	for range 100 {
		tb.CountFirst("example.com", now)
	}
	// 0.1 × 100 + 0.5/s × 10 s = 15.
	if got := grants(tb, "example.com", b, now, 100); got != 15 {
		t.Errorf("granted %d retries, want 15 (10 by the ratio, 5 by the floor)", got)
	}
	if got := grants(tb, "other.org", b, now, 100); got != 5 {
		t.Errorf("another site: granted %d retries, want its own floor 5", got)
	}
	// The window rolls: the counts of 11 s ago no longer count.
	clk.Advance(11 * time.Second)
	if got := grants(tb, "example.com", b, clk.Now(), 100); got != 5 {
		t.Errorf("after the window: granted %d retries, want the floor 5", got)
	}
}

func TestBudgetSharedAcrossThreeNodes(t *testing.T) {
	b := policy.RetryBudget{Ratio: 0.2, MinPerSecond: 0.3, Window: 10 * time.Second}
	a, clk := newTestTable(t, "a", policy.BreakerPolicy{})
	bb, _ := newTestTable(t, "b", policy.BreakerPolicy{})
	c, _ := newTestTable(t, "c", policy.BreakerPolicy{})
	bb.now, c.now = clk.Now, clk.Now
	for _, tb := range []*Table{a, bb, c} {
		tb.SetMembers(3)
	}
	now := clk.Now()
	for range 100 {
		a.CountFirst("example.com", now)
	}
	c.CountFirst("example.com", now)
	exchange(a, bb, c)
	// a spends the fleet's ratio: 20 retries of its 100 first attempts
	// (the floor, 3 for the fleet, is 1 per node).
	if got := grants(a, "example.com", b, now, 20); got != 20 {
		t.Fatalf("a granted %d of 20", got)
	}
	exchange(a, bb, c)
	// c sent one request: it may not retry past what the fleet has left,
	// only its share of the floor.
	if got := grants(c, "example.com", b, now, 100); got != 1 {
		t.Errorf("c, having seen the fleet spend its ratio, granted %d retries, want its floor share 1", got)
	}
	exchange(a, bb, c)
	st := bb.BudgetStatus("example.com", b, now)
	if st.Firsts != 101 || st.Retries != 21 {
		t.Errorf("b sees firsts=%d retries=%d, want the fleet's 101 and 21", st.Firsts, st.Retries)
	}
}

func TestBudgetFloorSplitByMembers(t *testing.T) {
	b := policy.RetryBudget{Ratio: 0.1, MinPerSecond: 10, Window: 10 * time.Second}
	for _, tt := range []struct {
		members, want int
	}{{1, 100}, {4, 25}, {50, 2}} {
		tb, clk := newTestTable(t, "a", policy.BreakerPolicy{})
		tb.SetMembers(tt.members)
		if got := grants(tb, "example.com", b, clk.Now(), 1000); got != tt.want {
			t.Errorf("members=%d: granted %d floor retries, want %d", tt.members, got, tt.want)
		}
	}
	local := b
	local.Local = true
	tb, clk := newTestTable(t, "a", policy.BreakerPolicy{})
	tb.SetMembers(4)
	if got := grants(tb, "example.com", local, clk.Now(), 1000); got != 100 {
		t.Errorf("Local with 4 members: granted %d, want the whole floor 100", got)
	}
}

// TestBudgetPartitionNeverRaisesTotal: a fleet of four split two and two
// grants no more retries in all than the whole fleet would: each side
// holds the ratio over the first attempts it sees, and the floor stays
// split by the four members known.
func TestBudgetPartitionNeverRaisesTotal(t *testing.T) {
	b := policy.RetryBudget{Ratio: 0.2, MinPerSecond: 2, Window: 10 * time.Second}
	run := func(sides [][]*Table, clk *fakeClock) int {
		now := clk.Now()
		total := 0
		for range 20 {
			for _, side := range sides {
				for i, tb := range side {
					for range 10 * (1 + i%2) {
						tb.CountFirst("example.com", now)
					}
					// Every node asks for more retries than any budget
					// holds, and tells its side at once.
					total += grants(tb, "example.com", b, now, 1000)
					exchange(side...)
				}
			}
		}
		return total
	}
	fleet := func() ([]*Table, *fakeClock) {
		var tables []*Table
		clk := newFakeClock()
		for _, n := range []string{"a", "b", "c", "d"} {
			tb, err := NewTable(Config{Node: n, Now: clk.Now})
			if err != nil {
				t.Fatal(err)
			}
			tb.SetMembers(4)
			tables = append(tables, tb)
		}
		return tables, clk
	}
	whole, clk := fleet()
	together := run([][]*Table{whole}, clk)
	split, clk := fleet()
	apart := run([][]*Table{split[:2], split[2:]}, clk)
	// The four nodes send 10, 20, 10 and 20 first attempts a round:
	// 20 rounds × 60 × 0.2 + the floor 20 = 260.
	if together > 260 || apart > 260 {
		t.Errorf("granted %d together and %d partitioned, want both ≤ the fleet's budget 260", together, apart)
	}
	t.Logf("granted %d together, %d partitioned", together, apart)
	if apart > together {
		t.Errorf("partitioned sides granted %d retries, more than the whole fleet's %d", apart, together)
	}
}

func TestBudgetMergeKeepsMaxPerOrigin(t *testing.T) {
	tb, clk := newTestTable(t, "a", policy.BreakerPolicy{})
	sec := clk.Now().Unix()
	tb.MergeBudget("b", []BudgetCount{{Site: "example.com", Buckets: []BudgetBucket{{Index: sec, Firsts: 10, Retries: 2}}}})
	tb.MergeBudget("b", []BudgetCount{{Site: "example.com", Buckets: []BudgetBucket{{Index: sec, Firsts: 7, Retries: 1}}}})
	tb.MergeBudget("c", []BudgetCount{{Site: "example.com", Buckets: []BudgetBucket{{Index: sec, Firsts: 5}}}})
	tb.MergeBudget("a", []BudgetCount{{Site: "example.com", Buckets: []BudgetBucket{{Index: sec, Firsts: 99}}}})
	st := tb.BudgetStatus("example.com", policy.RetryBudget{}, clk.Now())
	if st.Firsts != 15 || st.Retries != 2 {
		t.Errorf("firsts=%d retries=%d, want 15 and 2 (max per origin, sum across, own echo ignored)", st.Firsts, st.Retries)
	}
	before := tb.Stats().BudgetDropped
	tb.MergeBudget("b", []BudgetCount{{Site: "bad site"}, {Site: "x.com", Buckets: []BudgetBucket{{Index: sec + 1000, Firsts: 1}}}})
	if got := tb.Stats().BudgetDropped - before; got != 2 {
		t.Errorf("BudgetDropped grew by %d, want 2", got)
	}
}

func TestLatencyQuantileMergesTheFleet(t *testing.T) {
	a, clk := newTestTable(t, "a", policy.BreakerPolicy{})
	bb, _ := newTestTable(t, "b", policy.BreakerPolicy{})
	bb.now = clk.Now
	now := clk.Now()
	for i := range 100 {
		a.AddLatency("example.com", time.Duration(i+1)*time.Millisecond, now)
	}
	if _, ok := bb.LatencyQuantile("example.com", 0.95, 20, now); ok {
		t.Fatal("b knows a latency before any sketch came")
	}
	bb.MergeLatency("a", a.LatencySketches(nil))
	got, ok := bb.LatencyQuantile("example.com", 0.95, 20, now)
	if !ok || got < 93*time.Millisecond || got > 97*time.Millisecond {
		t.Errorf("b's p95 from a's sketch = %v, %v; want 95ms ±1%%", got, ok)
	}
	if again := a.LatencySketches(nil); len(again) != 0 {
		t.Errorf("nothing changed, yet %d sketches to send", len(again))
	}
}

// TestBudgetWindowEdge: a budget's window of W seconds holds the buckets
// of (now-W, now]: first attempts made W-1 seconds ago still count, those
// made W seconds ago no longer do.
func TestBudgetWindowEdge(t *testing.T) {
	tb, clk := newTestTable(t, "a", policy.BreakerPolicy{})
	b := policy.RetryBudget{Window: 10 * time.Second}
	t0 := clk.Now()
	for range 100 {
		tb.CountFirst("example.com", t0)
	}
	for _, tt := range []struct {
		after time.Duration
		want  uint64
	}{{0, 100}, {9 * time.Second, 100}, {10 * time.Second, 0}} {
		if got := tb.BudgetStatus("example.com", b, t0.Add(tt.after)).Firsts; got != tt.want {
			t.Errorf("%v after the first attempts: Firsts = %d, want %d", tt.after, got, tt.want)
		}
	}
}

// TestBudgetCountsCarryThePreviousSecond: counts are sent for the current
// and the previous second, so that a change made just before a second
// turns is still sent once it has.
func TestBudgetCountsCarryThePreviousSecond(t *testing.T) {
	tb, clk := newTestTable(t, "a", policy.BreakerPolicy{})
	t0 := clk.Now()
	tb.CountFirst("example.com", t0)
	clk.Advance(time.Second)
	got := tb.BudgetCounts(nil)
	want := []BudgetCount{{Site: "example.com", Buckets: []BudgetBucket{{Index: t0.Unix(), Firsts: 1}}}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("BudgetCounts a second later (-want +got):\n%s", diff)
	}
	// Two seconds later the bucket is no longer sent.
	tb.CountFirst("example.com", t0)
	clk.Advance(time.Second)
	if got := tb.BudgetCounts(nil); len(got) != 0 {
		t.Errorf("BudgetCounts two seconds later = %+v, want nothing", got)
	}
}

// TestBudgetIdleSiteForgotten: a site's counts are kept budgetIdle after
// their last change, and forgotten after that.
func TestBudgetIdleSiteForgotten(t *testing.T) {
	tb, clk := newTestTable(t, "a", policy.BreakerPolicy{})
	tb.CountFirst("example.com", clk.Now())
	tb.BudgetCounts(nil) // sent: no longer dirty
	clk.Advance(budgetIdle)
	tb.BudgetCounts(nil)
	if got := tb.BudgetSites(); len(got) != 1 {
		t.Fatalf("BudgetSites after %v idle = %v, want example.com kept", budgetIdle, got)
	}
	clk.Advance(time.Second)
	tb.BudgetCounts(nil)
	if got := tb.BudgetSites(); len(got) != 0 {
		t.Errorf("BudgetSites after %v idle = %v, want none", budgetIdle+time.Second, got)
	}
}

// TestMergeBudgetBucketBounds: buckets within the ring's span before now,
// or up to two seconds ahead (a fast clock), are kept; the others are
// dropped and counted.
func TestMergeBudgetBucketBounds(t *testing.T) {
	tb, clk := newTestTable(t, "a", policy.BreakerPolicy{})
	sec := clk.Now().Unix()
	for _, tt := range []struct {
		index   int64
		dropped uint64
	}{
		{sec - budgetBuckets + 2, 0},
		{sec - budgetBuckets + 1, 1},
		{sec + 2, 0},
		{sec + 3, 1},
	} {
		before := tb.Stats().BudgetDropped
		tb.MergeBudget("b", []BudgetCount{{Site: "example.com", Buckets: []BudgetBucket{{Index: tt.index, Firsts: 1}}}})
		if got := tb.Stats().BudgetDropped - before; got != tt.dropped {
			t.Errorf("bucket %+d s from now: dropped %d, want %d", tt.index-sec, got, tt.dropped)
		}
	}
}

// TestMergeBudgetOriginBound: a site keeps the counts of MaxBudgetOrigins
// other nodes; a further node's counts are dropped and counted, while the
// nodes it holds still merge.
func TestMergeBudgetOriginBound(t *testing.T) {
	tb, clk := newTestTable(t, "a", policy.BreakerPolicy{})
	sec := clk.Now().Unix()
	count := []BudgetCount{{Site: "example.com", Buckets: []BudgetBucket{{Index: sec, Firsts: 1}}}}
	for i := range MaxBudgetOrigins {
		tb.MergeBudget(fmt.Sprintf("node-%d", i), count)
	}
	if got := tb.Stats().BudgetDropped; got != 0 {
		t.Fatalf("BudgetDropped = %d after %d origins, want 0", got, MaxBudgetOrigins)
	}
	tb.MergeBudget("one-too-many", count)
	if got := tb.Stats().BudgetDropped; got != 1 {
		t.Errorf("BudgetDropped = %d after one origin more, want 1", got)
	}
	tb.MergeBudget("node-0", []BudgetCount{{Site: "example.com", Buckets: []BudgetBucket{{Index: sec, Firsts: 2}}}})
	st := tb.BudgetStatus("example.com", policy.RetryBudget{}, clk.Now())
	if want := uint64(MaxBudgetOrigins + 1); st.Firsts != want {
		t.Errorf("Firsts = %d, want %d (a held origin still merges)", st.Firsts, want)
	}
}

// TestBudgetWindowBeyondTheRing: a budget window longer than the ring of
// one-second buckets (unvalidated: the policy allows at most 60 s) is read
// as the ring's span less one, so a bucket the ring has wrapped onto is
// never counted twice or from a minute ago.
func TestBudgetWindowBeyondTheRing(t *testing.T) {
	tb, clk := newTestTable(t, "a", policy.BreakerPolicy{})
	b := policy.RetryBudget{Window: 10 * time.Minute}
	t0 := clk.Now()
	tb.CountFirst("example.com", t0)
	for _, tt := range []struct {
		after time.Duration
		want  uint64
	}{{(budgetBuckets - 2) * time.Second, 1}, {(budgetBuckets - 1) * time.Second, 0}, {budgetBuckets * time.Second, 0}} {
		if got := tb.BudgetStatus("example.com", b, t0.Add(tt.after)).Firsts; got != tt.want {
			t.Errorf("%v later: Firsts = %d, want %d", tt.after, got, tt.want)
		}
	}
}

// TestBudgetFloorNotChargedToTheRatio: retries granted by the floor are not
// taken from what the ratio allows: a site that spent its floor before any
// first attempt still gets the ratio's whole part once they come; Allowed
// reports the ratio's part plus the floor.
func TestBudgetFloorNotChargedToTheRatio(t *testing.T) {
	tb, clk := newTestTable(t, "a", policy.BreakerPolicy{})
	b := policy.RetryBudget{Ratio: 0.2, MinPerSecond: 0.5, Window: 10 * time.Second}
	now := clk.Now()
	if got := grants(tb, "example.com", b, now, 100); got != 5 {
		t.Fatalf("no first attempts: granted %d, want the floor 5", got)
	}
	for range 100 {
		tb.CountFirst("example.com", now)
	}
	if got := grants(tb, "example.com", b, now, 100); got != 20 {
		t.Errorf("100 first attempts after the floor was spent: granted %d, want the ratio's 20", got)
	}
	st := tb.BudgetStatus("example.com", b, now)
	if st.Allowed != 25 || st.Retries != 25 || st.Left != 0 {
		t.Errorf("status = %+v, want Allowed 25 (20 + 5), Retries 25, Left 0", st)
	}
}

// TestBudgetCountsSendRetriesAlone: a second with retries and no first
// attempt (the retries of requests begun a second before) is sent.
func TestBudgetCountsSendRetriesAlone(t *testing.T) {
	tb, clk := newTestTable(t, "a", policy.BreakerPolicy{})
	t0 := clk.Now()
	tb.CountFirst("example.com", t0)
	tb.BudgetCounts(nil)
	clk.Advance(time.Second)
	if !tb.ChargeRetry("example.com", policy.RetryBudget{}, clk.Now()) {
		t.Fatal("retry refused")
	}
	got := tb.BudgetCounts(nil)
	want := []BudgetCount{{Site: "example.com", Buckets: []BudgetBucket{
		{Index: t0.Unix(), Firsts: 1},
		{Index: t0.Unix() + 1, Retries: 1, Floor: 1},
	}}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("BudgetCounts (-want +got):\n%s", diff)
	}
}

// TestMergeBudgetSiteBound: counts for a site name of MaxSiteLen bytes are
// kept; a longer one is dropped and counted.
func TestMergeBudgetSiteBound(t *testing.T) {
	tb, clk := newTestTable(t, "a", policy.BreakerPolicy{})
	sec := clk.Now().Unix()
	for _, tt := range []struct {
		n       int
		dropped uint64
	}{{MaxSiteLen, 0}, {MaxSiteLen + 1, 1}} {
		before := tb.Stats().BudgetDropped
		site := strings.Repeat("s", tt.n)
		tb.MergeBudget("b", []BudgetCount{{Site: site, Buckets: []BudgetBucket{{Index: sec, Firsts: 1}}}})
		if got := tb.Stats().BudgetDropped - before; got != tt.dropped {
			t.Errorf("a site of %d bytes: dropped %d, want %d", tt.n, got, tt.dropped)
		}
	}
}
