package forward

import (
	"fmt"
	"io"
	"net/http"
	"runtime"
	"slices"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/proxywhirl/retrycoord/internal/testproxy"
	"github.com/proxywhirl/retrycoord/internal/testutil"
)

// BenchmarkForward compares the latency of sequential keep-alive requests
// sent straight through an upstream test proxy (direct) with the same
// requests sent through the forward proxy to that upstream (via-agent), and
// https:// requests through its TLS interception (via-agent-mitm).
func BenchmarkForward(b *testing.B) {
	origin := testproxy.NewOrigin(b)
	up := testproxy.NewProxy(b)
	b.Run("direct", func(b *testing.B) {
		benchLatency(b, client(b, up.URL(), nil, true), origin.URL)
	})
	b.Run("via-agent", func(b *testing.B) {
		_, purl := serve(b, Config{Coordinator: newCoord(b, up.URL())})
		benchLatency(b, client(b, purl, nil, true), origin.URL)
	})
	b.Run("via-agent-mitm", func(b *testing.B) { benchMITM(b, up) }) // intercept_bench_test.go
}

func benchLatency(b *testing.B, cl *http.Client, u string) {
	fetch := func() {
		resp, err := cl.Get(u)
		if err != nil {
			b.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		_ = resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			b.Fatalf("status %d", resp.StatusCode)
		}
	}
	for range 50 { // warm the connections
		fetch()
	}
	lat := make([]time.Duration, 0, 1<<14)
	b.ReportAllocs()
	for b.Loop() {
		start := time.Now()
		fetch()
		lat = append(lat, time.Since(start))
	}
	slices.Sort(lat)
	pct := func(q float64) float64 {
		return float64(testutil.Rank(lat, q)) / float64(time.Microsecond)
	}
	b.ReportMetric(pct(0.50), "p50-us")
	b.ReportMetric(pct(0.99), "p99-us")
}

// throughputClients is how many keep-alive clients BenchmarkForwardThroughput
// runs at once.
const throughputClients = 64

// BenchmarkForwardThroughput compares how many requests per second 64
// concurrent keep-alive clients get through a local test proxy to a local
// origin going straight to that proxy (direct) and through the forward
// proxy in front of it (via-agent), in the same run. allocs/op are the
// whole process's per request: client, test proxy and origin in both rows,
// the forward proxy in via-agent too.
//
//	go test -run '^$' -bench BenchmarkForwardThroughput -benchtime=5s ./coord/forward
func BenchmarkForwardThroughput(b *testing.B) {
	origin := testproxy.NewOrigin(b)
	up := testproxy.NewProxy(b)
	b.Run("direct", func(b *testing.B) {
		benchThroughput(b, up.URL(), origin.URL)
	})
	b.Run("via-agent", func(b *testing.B) {
		c := newCoord(b, up.URL())
		_, purl := serve(b, Config{Coordinator: c})
		benchThroughput(b, purl, origin.URL)
		if s := c.Recorder().Summary(); s.Requests > 0 {
			b.ReportMetric(float64(s.Attempts)/float64(s.Requests), "attempts/req")
			if len(s.Failures) > 0 {
				b.Logf("failed attempts: %v", s.Failures)
			}
		}
	})
}

func benchThroughput(b *testing.B, proxyURL, target string) {
	cl := client(b, proxyURL, nil, true)
	tr := cl.Transport.(*http.Transport)
	tr.MaxIdleConnsPerHost = throughputClients
	defer tr.CloseIdleConnections()
	fetch := func() error {
		resp, err := cl.Get(target)
		if err != nil {
			return err
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		_ = resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("status %d", resp.StatusCode)
		}
		return nil
	}
	// Warm one connection per client.
	var wg sync.WaitGroup
	for range throughputClients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := fetch(); err != nil {
				b.Error(err)
			}
		}()
	}
	wg.Wait()
	b.SetParallelism(max(1, throughputClients/runtime.GOMAXPROCS(0)))
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := processCPU()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := fetch(); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "req/s")
	b.ReportMetric(float64(processCPU()-cpu0)/float64(time.Microsecond)/float64(b.N), "cpu-us/req")
}

// processCPU returns the CPU time (user and system) this process used so
// far. On a shared machine req/s follows whatever CPU the others leave;
// CPU per request does not, and on a machine where every process of the
// chain is CPU-bound, req/s is the cores over it.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
