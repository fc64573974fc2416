package redisledger

import (
	"context"
	"log/slog"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/proxywhirl/retrycoord/internal/testutil"
	"github.com/proxywhirl/retrycoord/state"
	"github.com/redis/go-redis/v9"
)

func TestMain(m *testing.M) {
	redis.SetLogger(RedisLogger{}) // go-redis logs dial failures to stderr by default
	testutil.VerifyTestMain(m)
}

func newTable(t testing.TB, node string) *state.Table {
	t.Helper()
	tb, err := state.NewTable(state.Config{Node: node})
	if err != nil {
		t.Fatal(err)
	}
	return tb
}

// testConfig is a config for tests: short waits so that Close is quick.
func testConfig(addr string, tb *state.Table) Config {
	return Config{
		URL:           "redis://" + addr,
		Table:         tb,
		FlushInterval: 2 * time.Millisecond,
		FlushTimeout:  time.Second,
		ReadBlock:     100 * time.Millisecond,
		RetryMax:      200 * time.Millisecond,
	}
}

func newLedger(t testing.TB, cfg Config) *Ledger {
	t.Helper()
	l, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = l.Close() })
	return l
}

// run starts l.Run and makes the test's cleanup close l and wait for Run.
func run(t testing.TB, l *Ledger) {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- l.Run(context.Background()) }()
	t.Cleanup(func() {
		if err := l.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
}

// normalize sorts records by kind and key and clears OpenFor (it is a
// remaining time, so it differs with when it is read).
func normalize(recs []state.Record) []state.Record {
	out := slices.Clone(recs)
	for i := range out {
		out[i].OpenFor = 0
		if out[i].Kind == 0 {
			out[i].Kind = state.KindBreaker
		}
		if len(out[i].Value) == 0 {
			out[i].Value = nil
		}
	}
	slices.SortFunc(out, func(a, b state.Record) int {
		if a.Kind != b.Kind {
			return int(a.Kind) - int(b.Kind)
		}
		if c := strings.Compare(a.Upstream, b.Upstream); c != 0 {
			return c
		}
		return strings.Compare(a.Site, b.Site)
	})
	return out
}

func sameRecords(a, b []state.Record) bool {
	return cmp.Equal(normalize(a), normalize(b), cmpopts.EquateEmpty())
}

func diffRecords(want, got []state.Record) string {
	return cmp.Diff(normalize(want), normalize(got), cmpopts.EquateEmpty())
}

// countingHandler counts log records by level.
type countingHandler struct {
	warn, info, err atomic.Int64
}

func (h *countingHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h *countingHandler) Handle(_ context.Context, r slog.Record) error {
	switch {
	case r.Level >= slog.LevelError:
		h.err.Add(1)
	case r.Level >= slog.LevelWarn:
		h.warn.Add(1)
	case r.Level >= slog.LevelInfo:
		h.info.Add(1)
	}
	return nil
}
func (h *countingHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *countingHandler) WithGroup(string) slog.Handler      { return h }
