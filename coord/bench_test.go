package coord

import (
	"context"
	"fmt"
	"net/http"
	"syscall"
	"testing"
	"time"

	"github.com/failsafe-go/failsafe-go"
	"github.com/failsafe-go/failsafe-go/circuitbreaker"
	"github.com/failsafe-go/failsafe-go/retrypolicy"
	"github.com/proxywhirl/retrycoord/policy"
)

func benchPool(n int) []PoolEntry {
	out := make([]PoolEntry, n)
	for i := range out {
		out[i] = PoolEntry{URL: fmt.Sprintf("http://10.%d.%d.%d:8080", i>>16&0xff, i>>8&0xff, i&0xff)}
	}
	return out
}

// BenchmarkOverhead measures what a coordinator adds to one call, in
// parallel, beside a peer in the same run: retrycoord is Coordinator.Do
// over a pool of 100 (select, admit, settle, classify, record); failsafe is
// failsafe-go's executor with a retry policy and a circuit breaker (both
// with their defaults) around the same call. The call answers 200 at once.
//
//	go test -run '^$' -bench BenchmarkOverhead ./coord
func BenchmarkOverhead(b *testing.B) {
	ok := &http.Response{StatusCode: 200, Body: http.NoBody}
	ctx := context.Background()
	b.Run("retrycoord", func(b *testing.B) {
		c, err := New(Config{Pool: benchPool(100)})
		if err != nil {
			b.Fatal(err)
		}
		fn := func(context.Context, *Upstream) (*http.Response, error) { return ok, nil }
		b.ReportAllocs()
		defer reportCPU(b)()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := c.Do(ctx, fn); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
	b.Run("failsafe", func(b *testing.B) {
		ex := failsafe.With[*http.Response](
			retrypolicy.NewWithDefaults[*http.Response](),
			circuitbreaker.NewWithDefaults[*http.Response](),
		).WithContext(ctx)
		fn := func() (*http.Response, error) { return ok, nil }
		b.ReportAllocs()
		defer reportCPU(b)()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := ex.Get(fn); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}

// reportCPU starts counting the process's CPU time and returns the func
// that reports it per op as cpu-ns/op. On a shared machine ns/op follows
// whatever CPU the other processes leave; CPU per op does not, so the
// two lines of one run compare better by it when the machine is loaded.
func reportCPU(b *testing.B) func() {
	b.ResetTimer()
	cpu0 := processCPU()
	return func() {
		b.ReportMetric(float64(processCPU()-cpu0)/float64(b.N), "cpu-ns/op")
	}
}

// processCPU returns the CPU time (user and system) this process used so
// far.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkSelect measures choosing an upstream from a pool of 1,000 that
// all have history. p2c samples; best scans (O(pool)).
func BenchmarkSelect(b *testing.B) {
	for _, s := range []policy.Strategy{policy.StrategyP2C, policy.StrategyRoundRobin, policy.StrategyRandom, policy.StrategyBest} {
		name := "pool=1000"
		if s != policy.StrategyP2C {
			name += "/" + s.String()
		}
		b.Run(name, func(b *testing.B) {
			c, err := New(Config{Pool: benchPool(1000), Document: policy.Document{Select: policy.SelectPolicy{Strategy: s}}})
			if err != nil {
				b.Fatal(err)
			}
			for i, u := range c.Upstreams() {
				feed(u, 100, 50+i%50, time.Duration(1+i%7)*time.Millisecond)
			}
			sp := c.pol.Load().sel
			list := c.pool.load().list
			now := time.Now().UnixNano()
			b.ReportAllocs()
			for b.Loop() {
				if c.sel.pick(list, &sp, "", "", nil, now) == nil {
					b.Fatal("nothing picked")
				}
			}
		})
	}
}
