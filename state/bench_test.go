package state

import (
	"errors"
	"fmt"
	"runtime"
	"testing"
	"time"

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
	// A (proxy, site) pair that exists (it failed once, long ago) and is
	// closed: AdmitScoped asks the site, the proxy and the pair.
	b.Run("retrycoord-site", func(b *testing.B) {
		clk := newFakeClock()
		tb, err := NewTable(Config{Now: clk.Now})
		if err != nil {
			b.Fatal(err)
		}
		var s Scoped
		_, _ = tb.AdmitScoped(&s, up, "example.com")
		tb.SettleScoped(&s, OutcomeFailure, LevelPair, 0)
		clk.Advance(2 * time.Minute)
		tb.EvictIdle() // frees the windows; the breakers stay
		if tb.Stats().Pairs != 1 {
			b.Fatal("the pair is gone")
		}
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				var s Scoped
				_, err := tb.AdmitScoped(&s, up, "example.com")
				if err != nil {
					b.Error(err)
					return
				}
				tb.SettleScoped(&s, OutcomeSuccess, 0, 0)
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
	benchPairMemory(b, 1_000_000)
}

// benchPairMemory is BenchmarkTableMemory/pairs=N: the heap a table holds
// per idle tracked (proxy, site) pair, created by a failure, its window
// since emptied and freed (1,000 proxies × N/1,000 sites).
func benchPairMemory(b *testing.B, n int) {
	b.Run(fmt.Sprintf("pairs=%d", n), func(b *testing.B) {
		proxies := make([]string, 1000)
		for i := range proxies {
			proxies[i] = fmt.Sprintf("http://10.0.%d.%d:8080", i>>8, i&255)
		}
		sites := make([]string, n/len(proxies))
		for i := range sites {
			sites[i] = fmt.Sprintf("site-%04d.example", i)
		}
		var perPair float64
		for b.Loop() {
			clk := newFakeClock()
			before := heapInUse()
			tb, err := NewTable(Config{Now: clk.Now, MaxPairs: n})
			if err != nil {
				b.Fatal(err)
			}
			for _, site := range sites {
				for _, p := range proxies {
					// A success and a failure each: the site fails at
					// a ratio of 1/2, not enough to open it.
					var s Scoped
					_, _ = tb.AdmitScoped(&s, p, site)
					tb.SettleScoped(&s, OutcomeSuccess, 0, 0)
					_, _ = tb.AdmitScoped(&s, p, site)
					tb.SettleScoped(&s, OutcomeFailure, LevelPair, 0)
				}
				_ = tb.PendingEvidence(nil) // a node sends evidence every 20ms
			}
			clk.Advance(2 * time.Minute)
			tb.EvictIdle() // frees the windows; the breakers stay
			if got := tb.Stats().Pairs; got != n {
				b.Fatalf("%d pairs, want %d", got, n)
			}
			after := heapInUse()
			perPair = float64(after-before) / float64(n)
			runtime.KeepAlive(tb)
		}
		b.ReportMetric(perPair, "B/pair")
	})
}

func heapInUse() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// BenchmarkFactsSince reads the pool facts changed since a number, as
// coord's Run does on every pool fact and the cluster's sender after a
// drop, from tables of 1,000 and 100,000 facts: the last 10 changed, or
// all of them.
//
//	go test -run '^$' -bench BenchmarkFactsSince ./state
func BenchmarkFactsSince(b *testing.B) {
	for _, facts := range []int{1000, 100_000} {
		tb, err := NewTable(Config{Node: "a"})
		if err != nil {
			b.Fatal(err)
		}
		for i := range facts {
			tb.PutFact(KindPool, fmt.Sprintf("http://10.%d.%d.%d:8080", i/65536, (i/256)%256, i%256), []byte(`{"url":"x"}`))
		}
		for _, changed := range []int{10, facts} {
			b.Run(fmt.Sprintf("facts=%d/changed=%d", facts, changed), func(b *testing.B) {
				since := tb.FactSeq() - uint64(changed)
				for b.Loop() {
					if got, _ := tb.FactsSince(KindPool, since); len(got) != changed {
						b.Fatalf("%d facts read, want %d", len(got), changed)
					}
				}
			})
		}
	}
}
