package cluster

import (
	"net"
	"sync/atomic"
)

// traffic counts the bytes a node hands to memberlist by what they carry,
// as the payload of each copy sent (a packet fanned out to 29 peers counts
// 29 times), and, with the node's own transport, every byte it writes to
// the network including memberlist's own messages and framing. The
// counters only grow; they are for benchmarks and are safe for concurrent
// use.
type traffic struct {
	records  atomic.Uint64 // records sent directly: fan-out packets and reliable bursts
	gossip   atomic.Uint64 // records piggybacked on memberlist's gossip (GetBroadcasts)
	evidence atomic.Uint64 // evidence packets
	pushPull atomic.Uint64 // LocalState for push/pull exchanges and joins
	wire     atomic.Uint64 // every UDP and TCP byte written (own transport only)
}

// trafficSnapshot is a copy of traffic's counters.
type trafficSnapshot struct {
	records, gossip, evidence, pushPull, wire uint64
}

func (t *traffic) snapshot() trafficSnapshot {
	return trafficSnapshot{t.records.Load(), t.gossip.Load(), t.evidence.Load(), t.pushPull.Load(), t.wire.Load()}
}

// countingConn counts the bytes written to a stream into n.
type countingConn struct {
	net.Conn
	n *atomic.Uint64
}

func (c countingConn) Write(p []byte) (int, error) {
	k, err := c.Conn.Write(p)
	c.n.Add(uint64(k))
	return k, err
}
