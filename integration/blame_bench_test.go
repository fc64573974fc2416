package integration

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/proxywhirl/retrycoord/coord"
	"github.com/proxywhirl/retrycoord/internal/testproxy"
	"github.com/proxywhirl/retrycoord/policy"
	"github.com/proxywhirl/retrycoord/state"
)

// The blame benchmark's shape (issue 14, DESIGN §3b, §8).
const (
	blameNodes    = 3
	blameProxies  = 20
	blameSites    = 10 // site 0 is "A", the one at fault
	blameWorkers  = 8  // concurrent requests per node
	blameLearn    = 150
	blameMeasure  = 300 // requests per node after learning
	blameDeadSeed = 11
)

// blameScenario is one situation: how the proxies and origins misbehave.
type blameScenario struct {
	name string
	// setup makes the farm and the origins misbehave; it returns the dead
	// proxies (whose own counters are wasted attempts), if any.
	setup func(proxies []*testproxy.Proxy, origins []*blameOrigin) []*testproxy.Proxy
	// duration, when set, replaces the two phases with traffic for so long.
	duration time.Duration
}

// blameOrigin is one site's origin with a switchable misbehaviour.
type blameOrigin struct {
	*testproxy.Origin
	status atomic.Int32  // answer this to everyone (0: 200)
	noise  atomic.Uint64 // answer 503 to this many per million, at random
}

func newBlameOrigin(b *testing.B) *blameOrigin {
	o := &blameOrigin{Origin: testproxy.NewOrigin(b)}
	o.Handle(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s := o.status.Load(); s != 0 {
			w.WriteHeader(int(s))
			return
		}
		if n := o.noise.Load(); n > 0 && rand.Uint64N(1_000_000) < n {
			w.WriteHeader(503)
			return
		}
		_, _ = w.Write([]byte("ok"))
	}))
	return o
}

func (o *blameOrigin) target() string { return strings.TrimPrefix(o.URL, "http://") }

var blameScenarios = []blameScenario{
	{name: "site-bans-half", setup: func(ps []*testproxy.Proxy, os []*blameOrigin) []*testproxy.Proxy {
		for _, p := range ps[:blameProxies/2] {
			p.Set(testproxy.BanOnly(os[0].target(), 403))
		}
		return nil
	}},
	{name: "site-down", setup: func(_ []*testproxy.Proxy, os []*blameOrigin) []*testproxy.Proxy {
		os[0].status.Store(503)
		return nil
	}},
	{name: "proxy-dead", setup: func(ps []*testproxy.Proxy, _ []*blameOrigin) []*testproxy.Proxy {
		var dead []*testproxy.Proxy
		for _, i := range rand.New(rand.NewPCG(blameDeadSeed, blameDeadSeed)).Perm(blameProxies)[:6] {
			ps[i].Set(testproxy.Refuse())
			dead = append(dead, ps[i])
		}
		return dead
	}},
	{name: "background-errors", duration: blameDuration(), setup: func(_ []*testproxy.Proxy, os []*blameOrigin) []*testproxy.Proxy {
		for _, o := range os {
			o.noise.Store(20_000) // 2%
		}
		return nil
	}},
}

// blameDuration is how long background-errors runs: a minute, or
// BLAME_DURATION.
func blameDuration() time.Duration {
	if d, err := time.ParseDuration(os.Getenv("BLAME_DURATION")); err == nil && d > 0 {
		return d
	}
	return time.Minute
}

// blameResult is what one run measured.
type blameResult struct {
	aSuccess, aRequests int64 // requests to site A after learning, and the successes
	aAttempts           int64 // attempts that reached A's origin after learning
	ok, total           int64 // every request of the measured phase
	othersCapacity      float64
	wasted              int64
	proxiesOpened       int
}

// BenchmarkBlame measures what per-site breakers (keying=site) change
// against breakers keyed by proxy alone (keying=proxy: the behaviour before
// sites, with the seed's pure count rule, MinFailureRate off). Each run is
// a new three-node fleet over real memberlist on loopback, sharing 20 test
// proxies, with 10 sites (test origins, each its own site); every node
// sends GETs to random sites, 8 at a time, with 3 attempts and short
// backoffs. After blameLearn requests per node (learning) it sends
// blameMeasure more (measured), except background-errors, which runs for a
// minute (BLAME_DURATION). Reported, per scenario:
//
//   - site-bans-half (site A answers 403 through 10 of the 20 proxies):
//     A-success-% (after learning) and others-capacity-% (the share of
//     proxies eligible for sites B–J at the end, averaged over nodes);
//   - site-down (A answers 503 to everyone): others-capacity-% and
//     A-attempts-per-request after learning;
//   - proxy-dead (6 of 20 proxies refuse connections): wasted-attempts
//     (connections the dead proxies saw);
//   - background-errors (every site answers 503 to 2% at random):
//     proxies-opened (distinct proxies any node opened) and success-%.
//
// Run it with
//
//	go test -run '^$' -bench BenchmarkBlame -benchtime=1x ./integration
func BenchmarkBlame(b *testing.B) {
	for _, sc := range blameScenarios {
		for _, keying := range []coord.Keying{coord.KeyingSite, coord.KeyingProxy} {
			b.Run(fmt.Sprintf("scenario=%s/keying=%s", sc.name, keying), func(b *testing.B) {
				var r blameResult
				for b.Loop() {
					r = runBlame(b, sc, keying)
				}
				switch sc.name {
				case "site-bans-half":
					b.ReportMetric(pct(r.aSuccess, r.aRequests), "A-success-%")
					b.ReportMetric(r.othersCapacity, "others-capacity-%")
				case "site-down":
					b.ReportMetric(r.othersCapacity, "others-capacity-%")
					b.ReportMetric(float64(r.aAttempts)/float64(max(1, r.aRequests)), "A-attempts-per-request")
				case "proxy-dead":
					b.ReportMetric(float64(r.wasted), "wasted-attempts")
					b.ReportMetric(pct(r.ok, r.total), "success-%")
				case "background-errors":
					b.ReportMetric(float64(r.proxiesOpened), "proxies-opened")
					b.ReportMetric(pct(r.ok, r.total), "success-%")
				}
			})
		}
	}
}

func pct(a, n int64) float64 { return 100 * float64(a) / float64(max(1, n)) }

// runBlame builds the proxies, origins and fleet of one run, sends the
// traffic and returns what it measured. Only the traffic is timed.
func runBlame(b *testing.B, sc blameScenario, keying coord.Keying) blameResult {
	b.StopTimer()
	proxies := make([]*testproxy.Proxy, 0, blameProxies)
	defer func() {
		for _, p := range proxies {
			p.Close()
		}
	}()
	urls := make([]string, 0, blameProxies)
	for range blameProxies {
		p, err := testproxy.Listen()
		if err != nil {
			b.Fatal(err)
		}
		proxies = append(proxies, p)
		urls = append(urls, p.URL())
	}
	origins := make([]*blameOrigin, blameSites)
	for i := range origins {
		origins[i] = newBlameOrigin(b)
	}
	dead := sc.setup(proxies, origins)
	doc := policy.Document{Retry: policy.RetryPolicy{MaxAttempts: 3, BaseDelay: 100 * time.Millisecond, MaxDelay: time.Second}}
	if keying == coord.KeyingProxy {
		doc.Breaker.MinFailureRate = policy.NoMinFailureRate // the seed's count rule
	}
	f := startFleet(b, fleetOpts{size: blameNodes, sharing: shareFleet, pool: urls, doc: doc, fast: true, site: siteByPort, keying: keying})
	defer f.Close()
	opened := watchProxyTrips(f)

	b.StartTimer()
	var r blameResult
	if sc.duration > 0 {
		deadline := time.Now().Add(sc.duration)
		blameTraffic(f, origins, func(int64) bool { return time.Now().Before(deadline) }, &r, true)
	} else {
		blameTraffic(f, origins, func(j int64) bool { return j < blameLearn }, &r, false)
		aBefore := origins[0].Requests()
		blameTraffic(f, origins, func(j int64) bool { return j < blameMeasure }, &r, true)
		r.aAttempts = origins[0].Requests() - aBefore
	}
	b.StopTimer()

	for _, p := range dead {
		r.wasted += p.Requests()
	}
	r.othersCapacity = othersCapacity(f, origins)
	r.proxiesOpened = opened()
	f.Close()
	b.StartTimer()
	return r
}

// blameTraffic sends requests to random sites from every node, blameWorkers
// at a time, while more(j) holds for the node's j-th request. When measure
// is set it counts into r.
func blameTraffic(f *fleet, origins []*blameOrigin, more func(j int64) bool, r *blameResult, measure bool) {
	var wg sync.WaitGroup
	ctx := context.Background()
	var aReq, aOK, ok, total atomic.Int64
	for _, n := range f.nodes {
		var next atomic.Int64
		for range blameWorkers {
			wg.Go(func() {
				for more(next.Add(1) - 1) {
					i := rand.IntN(len(origins))
					_, err := n.get(ctx, origins[i].URL)
					total.Add(1)
					if err == nil {
						ok.Add(1)
					}
					if i == 0 {
						aReq.Add(1)
						if err == nil {
							aOK.Add(1)
						}
					}
				}
			})
		}
	}
	wg.Wait()
	if measure {
		r.aRequests += aReq.Load()
		r.aSuccess += aOK.Load()
		r.ok += ok.Load()
		r.total += total.Load()
	}
}

// othersCapacity is the share of proxies a request for sites B–J could go
// through at the end, averaged over nodes and sites, in percent.
func othersCapacity(f *fleet, origins []*blameOrigin) float64 {
	var eligible, all int
	for _, n := range f.nodes {
		for _, o := range origins[1:] {
			site := siteOfURL(o.URL)
			siteOK := n.tb.EligibleAt(state.SiteKey(site))
			for _, u := range n.c.Upstreams() {
				all++
				if siteOK && n.tb.EligibleScoped(u.Key(), site) {
					eligible++
				}
			}
		}
	}
	return pct(int64(eligible), int64(all))
}

// watchProxyTrips counts the distinct proxies any node's table opened
// (proxy level) from now on; the returned func stops and reports.
func watchProxyTrips(f *fleet) func() int {
	var mu sync.Mutex
	seen := map[string]bool{}
	var wg sync.WaitGroup
	var subs []*state.Subscription
	for _, n := range f.nodes {
		sub := n.tb.Subscribe(1 << 16)
		subs = append(subs, sub)
		wg.Go(func() {
			for tr := range sub.C {
				if tr.Record.IsBreaker() && tr.Record.Key().Level() == state.LevelProxy && tr.Record.Phase == state.PhaseOpen {
					mu.Lock()
					seen[tr.Record.Upstream] = true
					mu.Unlock()
				}
			}
		})
	}
	return func() int {
		for _, s := range subs {
			s.Close()
		}
		wg.Wait()
		mu.Lock()
		defer mu.Unlock()
		return len(seen)
	}
}
