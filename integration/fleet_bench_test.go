package integration

import (
	"context"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/proxywhirl/retrycoord/internal/testproxy"
	"github.com/proxywhirl/retrycoord/policy"
)

// The fleet benchmark's shape (issue 7, DESIGN §8).
const (
	benchNodes    = 5
	benchProxies  = 100
	benchDead     = 30
	benchRequests = 2000 // per node
	benchWorkers  = 64   // concurrent requests per node
	benchSeed     = 7    // chooses the dead proxies
)

// fleetResult is what one run of the fleet measured.
type fleetResult struct {
	wasted   int64 // attempts that reached a dead proxy (its own counter)
	attempts uint64
	ok       int
	total    int
	p95      time.Duration
}

// BenchmarkFleet measures how many attempts a fleet of five nodes wastes on
// dead proxies when breakers are fleet-wide (sharing=fleet: a cluster.Node
// per node on loopback memberlist, cluster defaults) versus node-local
// (sharing=local: no cluster). Each node sends benchRequests GETs with the
// default policy (policy.Document{}: 3 attempts, exponential backoff from
// 1s, p2c) through its coordinator's Transport, benchWorkers at a time, to
// an origin behind 100 test proxies of which 30, chosen by a fixed seed,
// refuse every connection. A refused (reset) connection is what a dead
// proxy most often looks like — its process or host is gone — and it fails
// at once, so the figure measures the breakers, not timeouts (the default
// policy has none: a hanging proxy would stall the run). One iteration is
// the whole measurement, with a new fleet and new proxies; run it with
//
//	go test -run '^$' -bench BenchmarkFleet -benchtime=1x ./integration
//
// Without -benchtime=1x, b.Loop stops after the first iteration anyway (it
// takes longer than the default 1s benchtime). Reported: wasted-attempts
// (connections the dead proxies saw, by their own counters),
// success-% (requests answered 200) and p95-ms (request latency, backoff
// included); attempts (all attempts made); and, on the local row, when the
// fleet row ran before it, fleet/local-wasted. The target: fleet wastes at
// most ⅓ of local (ideal ⅕) with a success rate at least as high.
func BenchmarkFleet(b *testing.B) {
	got := map[sharing]fleetResult{}
	for _, s := range []sharing{shareFleet, shareLocal} {
		b.Run("sharing="+string(s), func(b *testing.B) {
			b.ReportAllocs()
			origin := testproxy.NewOrigin(b)
			var r fleetResult
			for b.Loop() {
				r = runFleet(b, s, origin)
			}
			b.ReportMetric(float64(r.wasted), "wasted-attempts")
			b.ReportMetric(100*float64(r.ok)/float64(r.total), "success-%")
			b.ReportMetric(float64(r.p95)/float64(time.Millisecond), "p95-ms")
			b.ReportMetric(float64(r.attempts), "attempts")
			got[s] = r
			// The local row also carries the figure the target is about.
			if fl, ok := got[shareFleet]; ok && s == shareLocal && r.wasted > 0 {
				b.ReportMetric(float64(fl.wasted)/float64(r.wasted), "fleet/local-wasted")
			}
		})
	}
}

// deadSet returns the indexes of the dead proxies, chosen by benchSeed.
func deadSet() []int {
	rng := rand.New(rand.NewPCG(benchSeed, benchSeed))
	dead := rng.Perm(benchProxies)[:benchDead]
	slices.Sort(dead)
	return dead
}

// runFleet builds the proxies and the fleet, sends the traffic, tears
// everything down and returns what it measured. Only the traffic is timed.
// The fleet and the proxies are new in every iteration.
func runFleet(b *testing.B, s sharing, origin *testproxy.Origin) fleetResult {
	b.StopTimer()
	proxies := make([]*testproxy.Proxy, 0, benchProxies)
	closeAll := func() {
		for _, p := range proxies {
			p.Close()
		}
	}
	defer closeAll() // on b.Fatal; Close is idempotent
	urls := make([]string, 0, benchProxies)
	for range benchProxies {
		p, err := testproxy.Listen()
		if err != nil {
			b.Fatal(err)
		}
		proxies = append(proxies, p)
		urls = append(urls, p.URL())
	}
	dead := make([]*testproxy.Proxy, 0, benchDead)
	for _, i := range deadSet() {
		proxies[i].Set(testproxy.Refuse())
		dead = append(dead, proxies[i])
	}
	f := startFleet(b, fleetOpts{size: benchNodes, sharing: s, pool: urls, doc: policy.Document{}})
	defer f.Close()

	b.StartTimer()
	lat := make([][]time.Duration, len(f.nodes))
	var ok atomic.Int64
	var wg sync.WaitGroup
	ctx := context.Background()
	for i, n := range f.nodes {
		lat[i] = make([]time.Duration, benchRequests)
		var next atomic.Int64
		for range benchWorkers {
			wg.Go(func() {
				for {
					j := next.Add(1) - 1
					if j >= benchRequests {
						return
					}
					start := time.Now()
					_, err := n.get(ctx, origin.URL)
					lat[i][j] = time.Since(start)
					if err == nil {
						ok.Add(1)
					}
				}
			})
		}
	}
	wg.Wait()
	b.StopTimer()

	r := fleetResult{ok: int(ok.Load())}
	for _, p := range dead {
		r.wasted += p.Requests()
	}
	var all []time.Duration
	for i, n := range f.nodes {
		all = append(all, lat[i]...)
		r.attempts += n.c.Recorder().Total()
	}
	r.total = len(all)
	slices.Sort(all)
	r.p95 = all[len(all)*95/100]
	f.Close()
	closeAll()
	b.StartTimer() // b.Loop wants it running
	return r
}
