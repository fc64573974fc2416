package cluster

import (
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/proxywhirl/retrycoord/state"
)

// BenchmarkTraffic measures how many bytes a node sends per second in a
// fleet under load, by what they carry: records (fan-out packets and
// reliable bursts), gossip (records piggybacked on memberlist's gossip),
// evidence, push/pull state, and wire (every UDP and TCP byte written,
// memberlist's own probes, gossip and framing included). Every node sends
// 200 requests a second, each to a random upstream of the pool; 1% of the
// pool fails, and every second another 0.1% starts failing while the
// longest-failing 0.1% recovers, so that trips and recoveries keep
// happening. With sites=10 every request is for one of 10 sites, and the
// failing proxies fail as a ban would, blamed on the pair (proxy, site):
// the worst case for traffic, ten pairs counting for each failing proxy.
// After a 3s warm-up the counters are read over 10s (with the
// production timing: push/pull every 10s, scaled up by memberlist beyond
// 32 nodes), and the mean over the nodes is reported in bytes per second.
// One iteration is one whole run (the default -benchtime does one):
//
//	go test -run '^$' -bench BenchmarkTraffic -timeout=30m ./cluster
func BenchmarkTraffic(b *testing.B) {
	for _, nodes := range []int{10, 100} {
		for _, ups := range []int{1000, 100_000} {
			b.Run(fmt.Sprintf("nodes=%d/upstreams=%d", nodes, ups), func(b *testing.B) {
				benchTraffic(b, nodes, ups, 0)
			})
		}
	}
	for _, ups := range []int{1000, 100_000} {
		b.Run(fmt.Sprintf("nodes=100/upstreams=%d/sites=10", ups), func(b *testing.B) {
			benchTraffic(b, 100, ups, 10)
		})
	}
}

const (
	trafficRate    = 200 // requests per node per second
	trafficWarmup  = 3 * time.Second
	trafficMeasure = 10 * time.Second
)

func benchTraffic(b *testing.B, size, ups, sites int) {
	keys := make([]string, ups)
	for i := range keys {
		keys[i] = fmt.Sprintf("http://10.%d.%d.%d:8080", i>>16&255, i>>8&255, i&255)
	}
	// failing[order[i]] for i in [lo, hi) fail; each second hi and lo move
	// on by 0.1% of the pool.
	order := rand.Perm(ups)
	failing := make([]atomic.Bool, ups)
	lo, hi := 0, max(1, ups/100)
	for _, i := range order[lo:hi] {
		failing[i].Store(true)
	}
	step := max(1, ups/1000)
	siteNames := make([]string, sites)
	for i := range siteNames {
		siteNames[i] = fmt.Sprintf("site-%d.example", i)
	}

	ms := startFleet(b, size, fleetOpts{tweak: func(_ int, c *Config) {
		c.Base = nil // production timing
		c.PushPullInterval = 0
		c.QueueSize = 1024
	}})

	var requests, failures, open atomic.Uint64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for i, m := range ms {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(i), 17))
			const tick = 10 * time.Millisecond
			per := trafficRate * int(tick) / int(time.Second)
			t := time.NewTicker(tick)
			defer t.Stop()
			for {
				select {
				case <-stop:
					return
				case <-t.C:
				}
				for range per {
					k := rng.IntN(ups)
					if sites > 0 {
						var sc state.Scoped
						site := siteNames[rng.IntN(sites)]
						requests.Add(1)
						if _, err := m.tb.AdmitScoped(&sc, keys[k], site); err != nil {
							open.Add(1)
							continue
						}
						if failing[k].Load() {
							failures.Add(1)
							m.tb.SettleScoped(&sc, state.OutcomeFailure, state.LevelPair, time.Millisecond)
						} else {
							m.tb.SettleScoped(&sc, state.OutcomeSuccess, state.LevelPair, time.Millisecond)
						}
						continue
					}
					tk, err := m.tb.Admit(keys[k])
					requests.Add(1)
					if err != nil {
						open.Add(1)
						continue
					}
					if failing[k].Load() {
						failures.Add(1)
						m.tb.Settle(tk, state.OutcomeFailure, time.Millisecond)
					} else {
						m.tb.Settle(tk, state.OutcomeSuccess, time.Millisecond)
					}
				}
			}
		}()
	}
	wg.Add(1)
	go func() { // churn
		defer wg.Done()
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
			}
			for range step {
				failing[order[lo%ups]].Store(false)
				failing[order[hi%ups]].Store(true)
				lo, hi = lo+1, hi+1
			}
		}
	}()
	defer func() {
		close(stop)
		wg.Wait()
	}()

	var sum trafficSnapshot
	var changes uint64
	for b.Loop() {
		time.Sleep(trafficWarmup) // the load runs meanwhile
		before := make([]trafficSnapshot, size)
		for i, m := range ms {
			before[i] = m.node.traffic.snapshot()
		}
		st0 := sumStats(ms)
		start := time.Now()
		time.Sleep(trafficMeasure)
		secs := time.Since(start).Seconds()
		sum = trafficSnapshot{}
		for i, m := range ms {
			a, z := before[i], m.node.traffic.snapshot()
			sum.records += z.records - a.records
			sum.gossip += z.gossip - a.gossip
			sum.evidence += z.evidence - a.evidence
			sum.pushPull += z.pushPull - a.pushPull
			sum.wire += z.wire - a.wire
		}
		changes = sumStats(ms) - st0
		per := func(v uint64) float64 { return float64(v) / float64(size) / secs }
		b.ReportMetric(per(sum.records), "records-B/s")
		b.ReportMetric(per(sum.gossip), "gossip-B/s")
		b.ReportMetric(per(sum.evidence), "evidence-B/s")
		b.ReportMetric(per(sum.pushPull), "pushpull-B/s")
		b.ReportMetric(per(sum.wire), "wire-B/s")
		b.ReportMetric(float64(changes)/secs, "changes/s")
	}
	if r := requests.Load(); r == 0 || failures.Load() == 0 {
		b.Fatalf("no load: %d requests, %d failures", r, failures.Load())
	}
}

// sumStats returns how many changes the fleet's nodes published: each
// node's own trips, probes and recoveries.
func sumStats(ms []*member) uint64 {
	var n uint64
	for _, m := range ms {
		n += m.node.Stats().Published
	}
	return n
}
