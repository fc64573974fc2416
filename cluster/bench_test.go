package cluster

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/proxywhirl/retrycoord/cluster/faultnet"
	"github.com/proxywhirl/retrycoord/internal/testutil"
	"github.com/proxywhirl/retrycoord/state"
)

// BenchmarkPropagation measures how long a trip on one node takes to reach
// every node of a cluster running in this process, with direct fan-out
// (hybrid) and with memberlist gossip alone (gossip), over real UDP/TCP on
// loopback; mode=lossy is hybrid over cluster/faultnet dropping 5% of the
// packets of every link. Each iteration trips a fresh upstream on a random
// node and waits until every node has it open (at most 5s; nodes still
// without it count as missed), then lets the cluster's gossip of it drain,
// so ns/op is the cost of one trip including that drain (about 0.6s). For
// real percentiles run it with a fixed count (at most maxPropagationSamples
// are taken); each row ends by itself, the 200-node rows within about two
// minutes:
//
//	go test -run '^$' -bench 'BenchmarkPropagation/nodes=30/mode=hybrid' -benchtime=100x ./cluster
//	go test -run '^$' -bench 'BenchmarkPropagation/nodes=(100|200)/' -benchtime=100x -timeout=30m ./cluster
//
// The cluster is started once per row, outside the timed loop (startFleet),
// with the production memberlist timing (LAN profile, push/pull every 10s)
// and the poison guard off (one node tripping fresh upstreams over and over
// is the point here, not a broken network). The nodes' queues are 256 deep
// instead of 4096: a process runs one node in production, and hundreds of
// 1 MB channel buffers here would only give the garbage collector more to
// scan.
func BenchmarkPropagation(b *testing.B) {
	rows := []struct {
		nodes int
		mode  string
	}{
		{5, "hybrid"}, {5, "gossip"},
		{30, "hybrid"}, {30, "gossip"}, {30, "lossy"},
		{100, "hybrid"}, {100, "lossy"},
		{200, "hybrid"}, {200, "lossy"},
	}
	for _, r := range rows {
		b.Run(fmt.Sprintf("nodes=%d/mode=%s", r.nodes, r.mode), func(b *testing.B) {
			benchPropagation(b, r.nodes, r.mode)
		})
	}
}

// maxPropagationSamples caps the trips measured per row.
const maxPropagationSamples = 100

// benchQueue is the depth of the nodes' and observers' queues here.
const benchQueue = 256

func benchPropagation(b *testing.B, size int, mode string) {
	var o fleetOpts
	if mode == "lossy" {
		o.fn = new(faultnet.Network)
		o.fn.SetFault(faultnet.Fault{Drop: 0.05})
	}
	o.tweak = func(_ int, c *Config) {
		c.Base = nil           // the production default: memberlist's LAN timing, gossip every 200ms
		c.PushPullInterval = 0 // the 10s default
		c.RejoinInterval = 0
		c.DisableFanout = mode == "gossip"
		c.PoisonMinUpstreams = -1
		c.QueueSize = benchQueue
	}
	ms := startFleet(b, size, o)

	// One observer per node stamps the receipt of the current target.
	var target atomic.Pointer[string]
	received := make([]atomic.Int64, size)
	var remaining atomic.Int64
	allIn := make(chan struct{}, 1)
	done := make(chan struct{})
	var subs []*state.Subscription
	for i, m := range ms {
		sub := m.tb.Subscribe(benchQueue)
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
	missed, partial := 0, 0
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
		from := ms[rand.IntN(size)]
		if len(from.node.alivePeers()) < size-1 {
			partial++ // the tripping node does not see every other as alive
		}
		from.tb.Trip(up, time.Hour, "bench")
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
	b.ReportMetric(ms2(testutil.Rank(lat, 0.50)), "p50-ms")
	b.ReportMetric(ms2(testutil.Rank(lat, 0.99)), "p99-ms")
	b.ReportMetric(ms2(lat[len(lat)-1]), "max-ms")
	b.ReportMetric(float64(missed), "missed")
	b.ReportMetric(float64(partial), "partial-views")
	minMembers := size
	for _, m := range ms {
		minMembers = min(minMembers, len(m.node.Members()))
	}
	b.ReportMetric(float64(minMembers), "min-members")
	var dropped uint64
	for _, m := range ms {
		st := m.node.Stats()
		dropped += st.InboxDropped + st.PublishDropped
	}
	b.ReportMetric(float64(dropped), "dropped")
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
