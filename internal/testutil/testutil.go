package testutil

import (
	"bytes"
	"math"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// pollEvery is how often Eventually checks its condition.
const pollEvery = 2 * time.Millisecond

// Eventually calls cond every 2ms until it reports true, and fails t (with
// Fatalf, naming what and the timeout) once timeout has passed without it.
// It is the one way tests wait for something to happen: never a bare
// time.Sleep. cond runs on the calling goroutine.
func Eventually(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within %v: %s", timeout, what)
		}
		time.Sleep(pollEvery) // polling with a deadline
	}
}

// VerifyTestMain runs the tests of a package that starts goroutines and
// fails the run when any goroutine outlives them (goleak). memberlist's
// probe goroutine is ignored: it does not watch for shutdown, and an
// in-flight probe ends by its own timeouts after Shutdown returns. Use it as
//
//	func TestMain(m *testing.M) { testutil.VerifyTestMain(m) }
func VerifyTestMain(m *testing.M, opts ...goleak.Option) {
	opts = append(opts, goleak.IgnoreAnyFunction("github.com/hashicorp/memberlist.(*Memberlist).probeNode"))
	goleak.VerifyTestMain(m, opts...)
}

// Rank returns the nearest-rank q-quantile of sorted (ascending, not
// empty): the smallest sample that at least q of the samples are at or
// below. Of 100 samples, Rank(0.99) is the 99th smallest, not the largest
// (which is Rank(1)); benchmarks report the largest as max apart.
func Rank[T any](sorted []T, q float64) T {
	// q·n rounded up, with the product's float error (0.07·100 is
	// 7.000000000000001) kept from moving the rank up by one.
	i := int(math.Ceil(q*float64(len(sorted))-1e-9)) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

// SyncBuffer is a bytes.Buffer safe for concurrent writers and readers:
// a logger's output that a test reads while the code under test writes.
type SyncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *SyncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// String returns what was written so far.
func (b *SyncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
