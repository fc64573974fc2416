package cluster

import (
	"net"
	"sync"
	"time"

	"github.com/hashicorp/memberlist"
)

// lostMemory is how long a member memberlist no longer lists is tried
// again; seeds are tried for as long as the node runs.
const lostMemory = time.Hour

// rejoins tracks what the node re-joins after a partition: the members it
// lost, and the addresses with an attempt under way. memberlist
// forgets a dead member after GossipToTheDeadTime and never contacts it
// again on its own, and push/pull only picks alive members, so without
// these attempts two halves of a healed partition stay apart until someone
// joins across.
type rejoins struct {
	mu     sync.Mutex          // guards lost and trying
	lost   map[string]lostPeer // by member name
	trying map[string]bool     // addresses with an attempt under way
	back   chan string         // event callbacks → tickLoop: addresses of returned members
}

type lostPeer struct {
	addr  string
	since time.Time
}

func (r *rejoins) init() {
	r.lost = map[string]lostPeer{}
	r.trying = map[string]bool{}
	r.back = make(chan string, 64)
}

// left records a member that memberlist no longer lists, to be tried again.
// The event does not say whether it was declared dead or left on purpose
// (memberlist passes a Node whose State field it never updates), so both
// are tried: a ping to a node that is gone costs little, and a node that
// left and still answers is only told again that it left. It is called
// from memberlist's event callbacks and never blocks.
func (r *rejoins) left(m *memberlist.Node, now time.Time) {
	r.mu.Lock()
	r.lost[m.Name] = lostPeer{addr: m.Address(), since: now}
	r.mu.Unlock()
}

// count returns how many members were lost within lostMemory and have
// not come back: they still take their share of a retry budget's floor,
// so that a partition does not multiply it.
func (r *rejoins) count(now time.Time) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, p := range r.lost {
		if now.Sub(p.since) <= lostMemory {
			n++
		}
	}
	return n
}

// joined notes that a member is alive again. A member that had been lost
// returns to tickLoop for a full state exchange at once, unless an attempt
// of this node's is bringing it back already: its records reached others
// by another node's exchange, or its own join, and push/pull merges are
// not gossiped on. It is called from memberlist's event callbacks and never
// blocks.
func (r *rejoins) joined(m *memberlist.Node) {
	r.mu.Lock()
	_, wasLost := r.lost[m.Name]
	delete(r.lost, m.Name)
	addr := m.Address()
	busy := r.trying[addr]
	r.mu.Unlock()
	if !wasLost || busy {
		return
	}
	select {
	case r.back <- addr:
	default: // full: a burst of returns; push/pull reaches the rest in time
	}
}

// targets returns the lost members' addresses, forgetting those lost for
// longer than lostMemory.
func (r *rejoins) targets(now time.Time) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]string, 0, len(r.lost))
	for name, p := range r.lost {
		if now.Sub(p.since) > lostMemory {
			delete(r.lost, name)
			continue
		}
		out = append(out, p.addr)
	}
	return out
}

// start marks an attempt at addr under way; false when one already is.
func (r *rejoins) start(addr string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.trying[addr] {
		return false
	}
	r.trying[addr] = true
	return true
}

func (r *rejoins) done(addr string) {
	r.mu.Lock()
	delete(r.trying, addr)
	r.mu.Unlock()
}

// rejoin tries, every RejoinInterval, the seeds and the lost members,
// unless they are alive members now. It runs on tickLoop and never
// blocks it: each attempt runs in the background (see joinAt).
func (n *Node) rejoin() {
	if n.ml.Load() == nil || n.hasLeft.Load() {
		return
	}
	for _, addr := range append(n.seedList(), n.rejoins.targets(time.Now())...) {
		n.joinAt(addr, false)
	}
}

// aliveAt reports whether addr ("ip:port") is this node's or an alive (or
// suspect) member's address.
func (n *Node) aliveAt(addr string) bool {
	if addr == n.Addr() {
		return true
	}
	for _, m := range n.view.list() {
		if m.Address() == addr && (m.State == memberlist.StateAlive || m.State == memberlist.StateSuspect) {
			return true
		}
	}
	return false
}

// joinAt exchanges full state with the node at addr in the background,
// unless an attempt at addr is under way. Unless the node is known to be
// alive (back), addr is resolved first (seeds may be names) and skipped
// when it is an alive member's, and a ping comes before the join: a gone
// or partitioned node then costs one ProbeTimeout, not a TCP dial that may
// hang for memberlist's TCPTimeout (and hold Close up as long). It is
// called from tickLoop only, which the WaitGroup already counts.
func (n *Node) joinAt(addr string, back bool) {
	ml := n.ml.Load()
	if ml == nil || n.closed() || n.hasLeft.Load() || !n.rejoins.start(addr) {
		return
	}
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		defer n.rejoins.done(addr)
		if !back {
			ua, err := net.ResolveUDPAddr("udp", addr)
			if err != nil {
				n.log.Debug("re-join: bad address", "addr", addr, "err", err)
				return
			}
			if n.aliveAt(ua.String()) {
				return
			}
			// An empty name: whoever is at addr answers (a seed's name is
			// not known; a lost member may be back under a new one).
			if _, err := ml.Ping("", ua); err != nil {
				return
			}
		}
		if n.closed() || n.hasLeft.Load() {
			return
		}
		if _, err := ml.Join([]string{addr}); err != nil {
			n.log.Debug("re-join failed", "addr", addr, "err", err)
		}
	}()
}
