package forward

import (
	"io"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/proxywhirl/retrycoord/internal/testproxy"
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
		return float64(lat[min(int(q*float64(len(lat))), len(lat)-1)]) / float64(time.Microsecond)
	}
	b.ReportMetric(pct(0.50), "p50-us")
	b.ReportMetric(pct(0.99), "p99-us")
}
