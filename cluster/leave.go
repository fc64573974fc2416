package cluster

import (
	"context"
	"net"
	"sync"
	"time"

	"github.com/hashicorp/memberlist"
)

// DefaultLeaveTimeout bounds how long Leave waits for its announcement to
// spread when ctx has no earlier deadline.
const DefaultLeaveTimeout = 5 * time.Second

// anyPeerHears reports whether at least one member other than this node
// answers a ping within memberlist's ProbeTimeout. Leave waits for its
// announcement to spread only then: memberlist's Leave otherwise waits
// until the announcement was gossiped its full retransmit count, to
// members that may all be gone (killed, not yet declared dead), or until
// the timeout when gossip cannot send it. The pings run in parallel; it
// returns at the first answer, and pings still out finish (each within
// ProbeTimeout) under the node's WaitGroup.
func (n *Node) anyPeerHears(ctx context.Context, ml *memberlist.Memberlist) bool {
	peers := n.alivePeers()
	if len(peers) == 0 {
		return false
	}
	answered := make(chan struct{})
	var once sync.Once
	var pings sync.WaitGroup
	pings.Add(len(peers))
	n.wg.Add(len(peers))
	for _, p := range peers {
		go func() {
			defer n.wg.Done()
			defer pings.Done()
			addr := &net.UDPAddr{IP: p.Addr, Port: int(p.Port)}
			if _, err := ml.Ping(p.Name, addr); err == nil {
				once.Do(func() { close(answered) })
			}
		}()
	}
	none := make(chan struct{})
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		pings.Wait()
		close(none)
	}()
	select {
	case <-answered:
		return true
	case <-none:
		select {
		case <-answered: // the last ping answered
			return true
		default:
			return false
		}
	case <-ctx.Done():
		return false
	}
}
