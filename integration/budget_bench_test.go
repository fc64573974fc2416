package integration

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/proxywhirl/retrycoord/coord"
	"github.com/proxywhirl/retrycoord/internal/testutil"
	"github.com/proxywhirl/retrycoord/policy"
)

// The shape of the budget and hedging benchmarks (issue 15, DESIGN §6b, §8).
const (
	budgetNodes   = 5
	budgetProxies = 20
	budgetSite    = "site.example"
	budgetRate    = 1000 // first attempts per second across the fleet
	budgetRatio   = 0.1
	budgetFloor   = 10 // retries per second for the whole fleet
	hedgeWorkers  = 4  // concurrent requests per node
)

// benchDuration is how long each run sends traffic: d, or BUDGET_DURATION.
func benchDuration(d time.Duration) time.Duration {
	if v, err := time.ParseDuration(os.Getenv("BUDGET_DURATION")); err == nil && v > 0 {
		return v
	}
	return d
}

// benchPool returns n upstream URLs; the benchmarks' request functions
// never dial them.
func benchPool(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("http://10.9.%d.%d:3128", i/250, i%250+1)
	}
	return out
}

// lenient is a breaker policy that opens nothing in these benchmarks: they
// measure the budget and hedging, not the breakers.
func lenient() policy.BreakerPolicy {
	return policy.BreakerPolicy{FailureThreshold: 10_000, FleetThreshold: 1_000_000, Window: time.Second,
		SpreadProxies: 1000, SpreadSites: 1000}
}

func answer(code int) *http.Response {
	return &http.Response{StatusCode: code, Header: http.Header{}, Body: io.NopCloser(strings.NewReader(""))}
}

// budgetResult is what one budget run measured across the fleet.
type budgetResult struct {
	firsts, calls, ok int64
	seconds           float64
}

// BenchmarkRetryBudget measures the fleet-wide retry budget against the
// same budget kept per node. Each run is a new fleet of five nodes over
// real memberlist on loopback, each with a coordinator whose budget is
// Ratio 0.1 plus 10 retries/s for the fleet, MaxAttempts 3 and 100 ms
// waits. The fleet sends 1,000 requests a second for one site, 80% from
// node 0 and 5% from each of the others; the request function answers 503
// to 30% of attempts (scenario=steady) or to all (scenario=brownout),
// without sockets. sharing=fleet is the budget as built; sharing=local is
// Budget.Local (each node its own counts and the whole floor, as Finagle,
// Linkerd, Envoy and gRPC count). Reported: retry-ratio (retries / first
// attempts, fleet-wide), success-%, firsts-per-s (the pace achieved), and
// for brownout retries-per-s beside budget-per-s (0.1 × first attempts per
// second + the floor). Run with
//
//	go test -run '^$' -bench 'BenchmarkRetryBudget' -benchtime=1x ./integration
//
// Each run lasts 12 s (BUDGET_DURATION).
func BenchmarkRetryBudget(b *testing.B) {
	for _, sc := range []struct {
		name string
		fail float64
	}{{"steady", 0.3}, {"brownout", 1}} {
		for _, sh := range []string{"fleet", "local"} {
			b.Run(fmt.Sprintf("scenario=%s/sharing=%s", sc.name, sh), func(b *testing.B) {
				var r budgetResult
				for b.Loop() {
					r = runBudget(b, sc.fail, sh == "local")
				}
				retries := r.calls - r.firsts
				b.ReportMetric(float64(retries)/float64(max(1, r.firsts)), "retry-ratio")
				b.ReportMetric(pct(r.ok, r.firsts), "success-%")
				b.ReportMetric(float64(r.firsts)/r.seconds, "firsts-per-s")
				if sc.name == "brownout" {
					b.ReportMetric(float64(retries)/r.seconds, "retries-per-s")
					b.ReportMetric(budgetRatio*float64(r.firsts)/r.seconds+budgetFloor, "budget-per-s")
				}
			})
		}
	}
}

func runBudget(b *testing.B, fail float64, local bool) budgetResult {
	b.StopTimer()
	doc := policy.Document{
		Retry: policy.RetryPolicy{MaxAttempts: 3, BaseDelay: 100 * time.Millisecond, Backoff: policy.BackoffFixed,
			Budget: policy.RetryBudget{Ratio: budgetRatio, MinPerSecond: budgetFloor, Local: local}},
		Breaker: lenient(),
	}
	f := startFleet(b, fleetOpts{size: budgetNodes, sharing: shareFleet, pool: benchPool(budgetProxies), doc: doc, fast: true})
	defer f.Close()
	var r budgetResult
	var firsts, calls, ok atomic.Int64
	fn := func(context.Context, *coord.Upstream) (*http.Response, error) {
		calls.Add(1)
		if rand.Float64() < fail {
			return answer(503), nil
		}
		return answer(200), nil
	}
	ctx := coord.WithSite(context.Background(), budgetSite)
	d := benchDuration(12 * time.Second)
	b.StartTimer()
	start := time.Now()
	deadline := start.Add(d)
	var wg sync.WaitGroup
	const tick = 10 * time.Millisecond
	for i, n := range f.nodes {
		share := 0.05
		if i == 0 {
			share = 0.8
		}
		perTick := budgetRate * share * tick.Seconds()
		wg.Go(func() {
			t := time.NewTicker(tick)
			defer t.Stop()
			due := 0.0 // requests owed: the pace holds when a tick comes late
			last := time.Now()
			for now := range t.C {
				if now.After(deadline) {
					return
				}
				due += perTick * float64(now.Sub(last)) / float64(tick)
				last = now
				for ; due >= 1; due-- {
					firsts.Add(1)
					wg.Go(func() {
						res, err := n.c.Do(ctx, fn)
						if err != nil {
							return
						}
						if res.Response.StatusCode == 200 {
							ok.Add(1)
						}
						res.Response.Body.Close()
					})
				}
			}
		})
	}
	wg.Wait()
	b.StopTimer()
	r.seconds = time.Since(start).Seconds()
	r.firsts, r.calls, r.ok = firsts.Load(), calls.Load(), ok.Load()
	f.Close()
	b.StartTimer()
	return r
}

// BenchmarkHedging measures hedging at the site's fleet-wide p95. Each run
// is a new fleet of five nodes over real memberlist on loopback sharing 20
// upstreams; every node sends requests for one site, 4 at a time. The
// request function answers after 5–15 ms, except 2% of attempts, at
// random on any upstream, which stall 2 s (or until cancelled). hedge=on
// hedges at the fleet-merged p95 (policy.Hedge{On: true}); hedge=off does
// not. Reported: p50-ms and p99-ms of the requests, extra-attempts-%
// (attempts beyond one per request). Run with
//
//	go test -run '^$' -bench 'BenchmarkHedging' -benchtime=1x ./integration
//
// Each run lasts 12 s (BUDGET_DURATION); the first 2 s (learning) are not
// measured.
func BenchmarkHedging(b *testing.B) {
	for _, on := range []bool{true, false} {
		name := "hedge=off"
		if on {
			name = "hedge=on"
		}
		b.Run(name, func(b *testing.B) {
			var lat []time.Duration
			var extra float64
			for b.Loop() {
				lat, extra = runHedging(b, on)
			}
			slices.Sort(lat)
			q := func(p float64) float64 {
				if len(lat) == 0 {
					return 0
				}
				return float64(testutil.Rank(lat, p)) / float64(time.Millisecond)
			}
			b.ReportMetric(q(0.50), "p50-ms")
			b.ReportMetric(q(0.99), "p99-ms")
			b.ReportMetric(extra, "extra-attempts-%")
		})
	}
}

func runHedging(b *testing.B, on bool) ([]time.Duration, float64) {
	b.StopTimer()
	doc := policy.Document{
		Retry:   policy.RetryPolicy{MaxAttempts: 3, BaseDelay: 100 * time.Millisecond, Hedge: policy.Hedge{On: on}},
		Breaker: lenient(),
	}
	f := startFleet(b, fleetOpts{size: budgetNodes, sharing: shareFleet, pool: benchPool(budgetProxies), doc: doc, fast: true})
	defer f.Close()
	var calls atomic.Int64
	fn := func(ctx context.Context, _ *coord.Upstream) (*http.Response, error) {
		calls.Add(1)
		d := 5*time.Millisecond + rand.N(10*time.Millisecond)
		if rand.Float64() < 0.02 {
			d = 2 * time.Second
		}
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-t.C:
			return answer(200), nil
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	ctx := coord.WithSite(context.Background(), budgetSite)
	d := benchDuration(12 * time.Second)
	learn := time.Now().Add(2 * time.Second)
	deadline := time.Now().Add(d)
	b.StartTimer()
	var mu sync.Mutex
	var lat []time.Duration
	var measured, measuredCalls atomic.Int64
	var wg sync.WaitGroup
	for _, n := range f.nodes {
		for range hedgeWorkers {
			wg.Go(func() {
				for time.Now().Before(deadline) {
					start := time.Now()
					res, err := n.c.Do(ctx, fn)
					el := time.Since(start)
					if err == nil {
						res.Response.Body.Close()
					}
					if start.Before(learn) {
						continue
					}
					measured.Add(1)
					mu.Lock()
					lat = append(lat, el)
					mu.Unlock()
				}
			})
		}
	}
	// Attempts are counted over the measured phase from the fleet's
	// recorders: every attempt, winners and cancelled losers alike.
	startCalls := make(chan int64, 1)
	go func() {
		t := time.NewTimer(time.Until(learn))
		defer t.Stop()
		<-t.C
		startCalls <- calls.Load()
	}()
	wg.Wait()
	measuredCalls.Store(calls.Load() - <-startCalls)
	b.StopTimer()
	f.Close()
	b.StartTimer()
	extra := 100 * float64(measuredCalls.Load()-measured.Load()) / float64(max(1, measured.Load()))
	return lat, extra
}
