package cluster

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/proxywhirl/retrycoord/state"
)

// BenchmarkPropagation measures how long a trip on one node takes to reach
// every node of a real loopback cluster, with direct fan-out (hybrid) and
// with memberlist gossip alone (gossip). Each iteration trips a fresh
// upstream on a random node and waits until every node has it open (at most
// 5s; nodes still without it count as missed), then lets the cluster's
// gossip of it drain, so ns/op is the cost of one trip including that drain
// (about 0.6s). The default -benchtime of 1s therefore takes two or three
// samples per row; for real figures run it with a fixed count (at most
// maxPropagationSamples are taken; the whole run takes about a minute):
//
//	go test -run '^$' -bench BenchmarkPropagation -benchtime=30x ./cluster
//
// The cluster is started once per row, outside the timed loop, with the
// production memberlist timing (LAN profile, push/pull every 10s) and the
// poison guard off (one node tripping fresh upstreams over and over is the
// point here, not a broken network).
func BenchmarkPropagation(b *testing.B) {
	for _, size := range []int{5, 30} {
		for _, mode := range []string{"hybrid", "gossip"} {
			b.Run(fmt.Sprintf("nodes=%d/mode=%s", size, mode), func(b *testing.B) {
				benchPropagation(b, size, mode == "gossip")
			})
		}
	}
}

// maxPropagationSamples caps the trips measured per row.
const maxPropagationSamples = 100

func benchPropagation(b *testing.B, size int, gossipOnly bool) {
	ms := startCluster(b, size, clusterOpts{tweak: func(_ int, c *Config) {
		c.Base = nil           // the production default: memberlist's LAN timing, gossip every 200ms
		c.PushPullInterval = 0 // the 10s default
		c.RejoinInterval = 0
		c.DisableFanout = gossipOnly
		c.PoisonMinUpstreams = -1
	}})

	// One observer per node stamps the receipt of the current target.
	var target atomic.Pointer[string]
	received := make([]atomic.Int64, size)
	var remaining atomic.Int64
	allIn := make(chan struct{}, 1)
	done := make(chan struct{})
	var subs []*state.Subscription
	for i, m := range ms {
		sub := m.tb.Subscribe(4096)
		subs = append(subs, sub)
		go func() {
			defer func() { done <- struct{}{} }()
			for tr := range sub.C {
				tp := target.Load()
				if tp == nil || tr.Record.Upstream != *tp || tr.Record.Phase != state.PhaseOpen {
					continue
				}
				if received[i].CompareAndSwap(0, time.Now().UnixNano()) && remaining.Add(-1) == 0 {
					select {
					case allIn <- struct{}{}:
					default:
					}
				}
			}
		}()
	}
	defer func() {
		for _, s := range subs {
			s.Close()
		}
		for range subs {
			<-done
		}
	}()

	var lat []time.Duration
	missed := 0
	iter := 0
	b.ReportAllocs()
	for b.Loop() {
		if iter >= maxPropagationSamples {
			continue // enough samples: the rest of the loop does nothing
		}
		iter++
		up := fmt.Sprintf("http://10.%d.%d.%d:8080", size, iter/250, iter%250)
		for i := range received {
			received[i].Store(0)
		}
		remaining.Store(int64(size))
		select {
		case <-allIn:
		default:
		}
		target.Store(&up)
		start := time.Now()
		ms[rand.IntN(size)].tb.Trip(up, time.Hour, "bench")
		select {
		case <-allIn:
		case <-time.After(5 * time.Second):
		}
		target.Store(nil)
		var last int64
		for i := range received {
			r := received[i].Load()
			if r == 0 {
				missed++
				continue
			}
			last = max(last, r)
		}
		lat = append(lat, time.Duration(last-start.UnixNano()))
		quiesce(ms)
	}
	slices.Sort(lat)
	ms2 := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	pct := func(p float64) time.Duration { return lat[min(len(lat)-1, int(p*float64(len(lat))))] }
	b.ReportMetric(ms2(pct(0.50)), "p50-ms")
	b.ReportMetric(ms2(pct(0.99)), "p99-ms")
	b.ReportMetric(ms2(lat[len(lat)-1]), "max-ms")
	b.ReportMetric(float64(missed), "missed")
}

// quiesce waits (at most 3s) until no node has gossip left to send for the
// previous trip. Trips are rare events: a fleet does not trip hundreds of
// upstreams a second, so each iteration measures latency on a quiet cluster
// rather than throughput under the re-gossip of the trips before it.
func quiesce(ms []*member) {
	deadline := time.Now().Add(3 * time.Second)
	for time.Now().Before(deadline) {
		busy := false
		for _, m := range ms {
			if m.node.queue.NumQueued() > 0 {
				busy = true
				break
			}
		}
		if !busy {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
}
