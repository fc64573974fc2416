package redisledger

import (
	"context"
	"testing"
	"time"

	"github.com/proxywhirl/retrycoord/internal/redistest"
	"github.com/proxywhirl/retrycoord/state"
)

// BenchmarkLedger measures one synchronous compare-and-set round trip to a
// real redis-server, and the pipelined flusher's throughput for changes of
// the table it subscribes to.
func BenchmarkLedger(b *testing.B) {
	srv := redistest.Start(b)
	rec := state.Record{Kind: state.KindBreaker, Upstream: "http://10.0.0.1:8080", Gen: 1,
		Phase: state.PhaseOpen, HLC: 1, Origin: "bench", OpenFor: 30 * time.Second, Reason: "bench"}

	b.Run("cas-roundtrip", func(b *testing.B) {
		l := newLedger(b, testConfig(srv.Addr(), newTable(b, "bench")))
		ctx := context.Background()
		r := rec
		r.Upstream = "http://10.0.0.2:8080"
		b.ReportAllocs()
		for b.Loop() {
			r.HLC++ // every call applies: HSET, PEXPIRE, SADD and XADD
			if _, err := l.Write(ctx, r); err != nil {
				b.Fatal(err)
			}
		}
	})

	b.Run("flush-throughput", func(b *testing.B) {
		const perOp = 1000 // changes made, then flushed, per iteration
		tb := newTable(b, "bench")
		cfg := testConfig(srv.Addr(), tb)
		cfg.QueueSize = 2 * perOp
		l := newLedger(b, cfg)
		if _, err := l.Snapshot(context.Background()); err != nil {
			b.Fatal(err)
		}
		run(b, l)
		ups := make([]string, 64)
		for i := range ups {
			ups[i] = "http://10.0.3." + string(rune('a'+i%26)) + string(rune('a'+i/26)) + ":80"
		}
		r := rec
		var written uint64
		start := time.Now()
		b.ReportAllocs()
		for b.Loop() {
			for i := range perOp {
				r.HLC++
				r.Upstream = ups[i%len(ups)]
				tb.Merge(r, state.SourceLocal) // a local change the ledger writes
			}
			written += perOp
			for deadline := time.Now().Add(30 * time.Second); ; { // a fine-grained wait: eventually's 10ms would dominate
				s := l.Stats()
				if s.Applied+s.Stale+s.Failed+s.Dropped >= written {
					break
				}
				if time.Now().After(deadline) {
					b.Fatalf("the flusher did not write the batch: %+v", s)
				}
				time.Sleep(100 * time.Microsecond)
			}
		}
		elapsed := time.Since(start)
		s := l.Stats()
		b.ReportMetric(float64(s.Applied)/elapsed.Seconds(), "records/s")
		b.ReportMetric(float64(s.Dropped), "dropped")
	})
}
