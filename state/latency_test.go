package state

import (
	"fmt"
	"testing"
	"time"

	"github.com/proxywhirl/retrycoord/policy"
)

// addLatencies records n answers of d for site at now.
func addLatencies(tb *Table, site string, n int, d time.Duration, now time.Time) {
	for range n {
		tb.AddLatency(site, d, now)
	}
}

// TestLatencyOwnPeriods: a node's own latencies count for one period
// (latencyPeriod) and the next, then not at all. Each site is asked once
// or at times further apart than the cache, so that no answer is cached.
func TestLatencyOwnPeriods(t *testing.T) {
	tb, clk := newTestTable(t, "a", policy.BreakerPolicy{})
	t0 := clk.Now()
	for i, tt := range []struct {
		name string
		asks []time.Duration // times the quantile is asked, after the answers
		want bool            // at the last ask
	}{
		{"at once", []time.Duration{0}, true},
		{"one period on", []time.Duration{latencyPeriod}, true},
		{"just short of two periods", []time.Duration{2*latencyPeriod - time.Millisecond}, true},
		{"two periods on", []time.Duration{2 * latencyPeriod}, false},
		// Asked at one period, the node's sketch rotated then: another
		// period on, the answers are two periods old.
		{"one period, then another", []time.Duration{latencyPeriod, 2 * latencyPeriod}, false},
		{"one period, then just short of another", []time.Duration{latencyPeriod, 2*latencyPeriod - time.Millisecond}, true},
	} {
		site := fmt.Sprintf("site%d.example", i)
		addLatencies(tb, site, 20, 10*time.Millisecond, t0)
		var ok bool
		for _, at := range tt.asks {
			_, ok = tb.LatencyQuantile(site, 0.5, 20, t0.Add(at))
		}
		if ok != tt.want {
			t.Errorf("%s: LatencyQuantile ok = %v, want %v", tt.name, ok, tt.want)
		}
	}

	// Answers of each period: at two periods, those of the first are gone
	// and those of the second (one period old) still count.
	addLatencies(tb, "rolling.example", 20, 10*time.Millisecond, t0)
	tb.LatencyQuantile("rolling.example", 0.5, 1, t0.Add(latencyPeriod))
	addLatencies(tb, "rolling.example", 20, 10*time.Millisecond, t0.Add(latencyPeriod))
	at := t0.Add(2 * latencyPeriod)
	if _, ok := tb.LatencyQuantile("rolling.example", 0.5, 20, at); !ok {
		t.Errorf("the second period's 20 answers, a period on: not counted")
	}
	if _, ok := tb.LatencyQuantile("rolling.example", 0.9, 21, at); ok {
		t.Errorf("the first period's answers, two periods on: still counted")
	}
}

// TestLatencyMinCount: a quantile needs minCount answers, zero latencies
// included.
func TestLatencyMinCount(t *testing.T) {
	tb, clk := newTestTable(t, "a", policy.BreakerPolicy{})
	now := clk.Now()
	addLatencies(tb, "zero.example", 20, 0, now)
	if got, ok := tb.LatencyQuantile("zero.example", 0.5, 20, now); !ok || got != time.Microsecond {
		t.Errorf("20 zero latencies, minCount 20: %v, %v; want the floor 1µs, true", got, ok)
	}
	addLatencies(tb, "example.com", 20, 10*time.Millisecond, now)
	if _, ok := tb.LatencyQuantile("example.com", 0.5, 21, now); ok {
		t.Errorf("20 answers, minCount 21: ok, want false")
	}
	if _, ok := tb.LatencyQuantile("example.com", 0.9, 20, now); !ok {
		t.Errorf("20 answers, minCount 20: false, want ok")
	}
	tb.AddLatency("example.com", -time.Millisecond, now)
	if _, ok := tb.LatencyQuantile("example.com", 0.5, 21, now.Add(time.Second)); ok {
		t.Errorf("a negative latency was counted")
	}
}

// TestLatencyQuantileCached: a quantile is reused for quantileCache, then
// computed afresh; asking for another quantile computes it at once.
func TestLatencyQuantileCached(t *testing.T) {
	tb, clk := newTestTable(t, "a", policy.BreakerPolicy{})
	now := clk.Now()
	addLatencies(tb, "example.com", 20, 10*time.Millisecond, now)
	first, _ := tb.LatencyQuantile("example.com", 0.5, 20, now)
	addLatencies(tb, "example.com", 100, time.Second, now)
	if got, ok := tb.LatencyQuantile("example.com", 0.5, 20, now.Add(quantileCache-time.Millisecond)); got != first || !ok {
		t.Errorf("within the cache: %v, %v; want the cached %v, true", got, ok, first)
	}
	if got, _ := tb.LatencyQuantile("example.com", 0.5, 20, now.Add(quantileCache)); got < 900*time.Millisecond {
		t.Errorf("once the cache ran out: %v, want about 1s", got)
	}
	// Too few answers is cached too, as no answer.
	addLatencies(tb, "few.example", 5, 10*time.Millisecond, now)
	for _, at := range []time.Duration{0, quantileCache - time.Millisecond} {
		if got, ok := tb.LatencyQuantile("few.example", 0.5, 20, now.Add(at)); ok {
			t.Errorf("5 answers, minCount 20, asked %v after: %v, true; want false", at, got)
		}
	}
}

// TestLatencyRemoteSketchStale: another node's sketch counts for
// latencyStale after it came, not longer; a newer one replaces it.
func TestLatencyRemoteSketchStale(t *testing.T) {
	a, clk := newTestTable(t, "a", policy.BreakerPolicy{})
	b, _ := newTestTable(t, "b", policy.BreakerPolicy{})
	b.now = clk.Now
	t0 := clk.Now()
	addLatencies(a, "example.com", 20, 10*time.Millisecond, t0)
	b.MergeLatency("a", a.LatencySketches(nil))
	if _, ok := b.LatencyQuantile("example.com", 0.5, 20, t0.Add(latencyStale)); !ok {
		t.Errorf("a's sketch %v after it came: not counted", latencyStale)
	}
	if _, ok := b.LatencyQuantile("example.com", 0.5, 20, t0.Add(latencyStale+time.Second)); ok {
		t.Errorf("a's sketch %v after it came: still counted", latencyStale+time.Second)
	}
}

// TestMergeLatencyBounds: a sketch of MaxSketchBins bins is kept, one of
// more is dropped and counted; a site keeps the sketches of
// MaxBudgetOrigins other nodes, and drops (and counts) a further node's,
// while a node it holds may still replace its own.
func TestMergeLatencyBounds(t *testing.T) {
	tb, clk := newTestTable(t, "a", policy.BreakerPolicy{})
	bins := make([]SketchBin, MaxSketchBins+1)
	for i := range bins {
		bins[i] = SketchBin{Index: int32(i), Count: 1}
	}
	tb.MergeLatency("b", []LatencySketch{{Site: "example.com", Bins: bins[:MaxSketchBins]}})
	if got := tb.Stats().BudgetDropped; got != 0 {
		t.Fatalf("a sketch of %d bins: dropped %d, want 0", MaxSketchBins, got)
	}
	tb.MergeLatency("b", []LatencySketch{{Site: "example.com", Bins: bins}})
	if got := tb.Stats().BudgetDropped; got != 1 {
		t.Fatalf("a sketch of %d bins: dropped %d, want 1", MaxSketchBins+1, got)
	}

	one := []LatencySketch{{Site: "other.example", Bins: []SketchBin{{Index: 100, Count: 1}}}}
	for i := range MaxBudgetOrigins {
		tb.MergeLatency(fmt.Sprintf("node-%d", i), one)
	}
	if got := tb.Stats().BudgetDropped; got != 1 {
		t.Fatalf("after %d origins: dropped %d, want still 1", MaxBudgetOrigins, got)
	}
	tb.MergeLatency("one-too-many", one)
	if got := tb.Stats().BudgetDropped; got != 2 {
		t.Errorf("one origin more: dropped %d, want 2", got)
	}
	tb.MergeLatency("node-0", one)
	if got := tb.Stats().BudgetDropped; got != 2 {
		t.Errorf("a held origin replacing its sketch: dropped %d, want still 2", got)
	}
	if _, ok := tb.LatencyQuantile("other.example", 0.5, MaxBudgetOrigins, clk.Now()); !ok {
		t.Errorf("the %d origins held do not make up the quantile", MaxBudgetOrigins)
	}
}

// TestLatencySketchCarriesEveryAnswer: another node's sketch carries every
// answer it had: latencies that each fill a bin of their own, and zero
// latencies.
func TestLatencySketchCarriesEveryAnswer(t *testing.T) {
	a, clk := newTestTable(t, "a", policy.BreakerPolicy{})
	b, _ := newTestTable(t, "b", policy.BreakerPolicy{})
	b.now = clk.Now
	now := clk.Now()
	for i := range 20 {
		a.AddLatency("distinct.example", time.Duration(1+i*i)*time.Millisecond, now)
	}
	addLatencies(a, "zero.example", 20, 0, now)
	b.MergeLatency("a", a.LatencySketches(nil))
	for _, site := range []string{"distinct.example", "zero.example"} {
		if _, ok := b.LatencyQuantile(site, 0.5, 20, now); !ok {
			t.Errorf("%s: b holds fewer than a's 20 answers", site)
		}
	}
}
