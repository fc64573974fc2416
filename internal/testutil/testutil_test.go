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
