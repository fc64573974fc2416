package state

import (
	"errors"
	"fmt"
	"runtime"
	"testing"

	"github.com/failsafe-go/failsafe-go/circuitbreaker"
	"github.com/proxywhirl/retrycoord/policy"
	"github.com/sony/gobreaker/v2"
)

// BenchmarkAdmitSettle compares the closed-state cost of asking a breaker
// for permission and reporting a success, in parallel, against the breaker
// libraries people use today.
func BenchmarkAdmitSettle(b *testing.B) {
	b.Run("retrycoord", func(b *testing.B) {
		tb, err := NewTable(Config{})
		if err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				tk, err := tb.Admit(up)
				if err != nil {
					b.Error(err)
					return
				}
				tb.Settle(tk, OutcomeSuccess, 0)
			}
		})
	})
	b.Run("gobreaker", func(b *testing.B) {
		cb := gobreaker.NewCircuitBreaker[struct{}](gobreaker.Settings{Name: up})
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := cb.Execute(func() (struct{}, error) { return struct{}{}, nil }); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
	b.Run("failsafe", func(b *testing.B) {
		cb := circuitbreaker.NewWithDefaults[any]()
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if !cb.TryAcquirePermit() {
					b.Error(errors.New("failsafe: no permit"))
					return
				}
				cb.RecordSuccess()
			}
		})
	})
}

// BenchmarkTableMemory reports the heap a table holds per idle tracked
// upstream: a breaker that was used once, succeeded, and sits closed.
func BenchmarkTableMemory(b *testing.B) {
	for _, n := range []int{1000, 100_000} {
		b.Run(fmt.Sprintf("upstreams=%d", n), func(b *testing.B) {
			keys := make([]string, n)
			for i := range keys {
				keys[i] = fmt.Sprintf("http://10.%d.%d.%d:8080", i>>16&255, i>>8&255, i&255)
			}
			var perUpstream float64
			for b.Loop() {
				before := heapInUse()
				tb, err := NewTable(Config{Policy: policy.BreakerPolicy{}})
				if err != nil {
					b.Fatal(err)
				}
				for _, k := range keys {
					tk, _ := tb.Admit(k)
					tb.Settle(tk, OutcomeSuccess, 0)
				}
				after := heapInUse()
				perUpstream = float64(after-before) / float64(n)
				runtime.KeepAlive(tb)
			}
			b.ReportMetric(perUpstream, "B/upstream")
		})
	}
}

func heapInUse() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}
