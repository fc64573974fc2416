package testutil

import (
	"sync/atomic"
	"testing"
	"time"
)

func TestMain(m *testing.M) { VerifyTestMain(m) }

func TestEventuallyWaitsForTheCondition(t *testing.T) {
	var calls atomic.Int32
	Eventually(t, 5*time.Second, "the third call", func() bool { return calls.Add(1) >= 3 })
	if got := calls.Load(); got != 3 {
		t.Errorf("cond called %d times, want 3 (it stops once true)", got)
	}
}

// fatalRecorder is a testing.TB that records Fatalf instead of stopping.
type fatalRecorder struct {
	testing.TB
	failed bool
	msg    string
}

func (f *fatalRecorder) Helper() {}
func (f *fatalRecorder) Fatalf(format string, args ...any) {
	f.failed = true
	f.msg = format
}

func TestEventuallyFailsAfterTheTimeout(t *testing.T) {
	rec := &fatalRecorder{TB: t}
	Eventually(rec, 10*time.Millisecond, "never", func() bool { return rec.failed })
	if !rec.failed {
		t.Fatal("Eventually returned without the condition and without failing")
	}
}

func TestRankIsTheNearestRank(t *testing.T) {
	hundred := make([]int, 100)
	for i := range hundred {
		hundred[i] = i + 1
	}
	for _, c := range []struct {
		sorted []int
		q      float64
		want   int
	}{
		{hundred, 0.99, 99}, // not the largest: 99 of the 100 are at or below it
		{hundred, 0.50, 50},
		{hundred, 0.07, 7}, // 0.07·100 is 7.000000000000001 in float64
		{hundred, 1, 100},
		{hundred, 0, 1},
		{[]int{7}, 0.99, 7},
		{[]int{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, 0.99, 10}, // 9.9 rounds up to the 10th
		{[]int{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, 0.95, 10},
		{[]int{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, 0.90, 9},
	} {
		if got := Rank(c.sorted, c.q); got != c.want {
			t.Errorf("Rank(%d samples, %v) = %d, want %d", len(c.sorted), c.q, got, c.want)
		}
	}
}

// TestRankMatchesIntegerArithmetic checks every whole percentile of every
// sample count up to 1000 against ⌈q·n⌉ computed in integers.
func TestRankMatchesIntegerArithmetic(t *testing.T) {
	s := make([]int, 1000)
	for i := range s {
		s[i] = i + 1
	}
	for per := 1; per <= 100; per++ {
		for n := 1; n <= len(s); n++ {
			want := (per*n + 99) / 100 // ⌈per·n/100⌉, the 1-based rank
			if got := Rank(s[:n], float64(per)/100); got != want {
				t.Fatalf("Rank(%d samples, %d%%) = %d, want %d", n, per, got, want)
			}
		}
	}
}
