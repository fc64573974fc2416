package forward

import (
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/proxywhirl/retrycoord/internal/testproxy"
)

// benchMITM is BenchmarkForward/via-agent-mitm: the same sequential
// keep-alive requests as via-agent, but https:// through the agent's TLS
// interception (one client handshake, amortised), then the rate of fresh
// intercepted connections (CONNECT, TLS handshake with a cached leaf, one
// request) reported as handshakes/s.
func benchMITM(b *testing.B, up *testproxy.Proxy) {
	ca := testCA(b)
	origin := newNamedOrigin(b, func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok") })
	_, purl := serve(b, Config{Coordinator: newCoord(b, up.URL()), Intercept: interceptCfg(ca, origin)})
	benchLatency(b, client(b, purl, trusting(ca), true), origin.URL)

	fresh := client(b, purl, trusting(ca), false)
	const n = 100
	start := time.Now()
	for range n {
		resp, err := fresh.Get(origin.URL)
		if err != nil {
			b.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		_ = resp.Body.Close()
	}
	b.ReportMetric(n/time.Since(start).Seconds(), "handshakes/s")
}
