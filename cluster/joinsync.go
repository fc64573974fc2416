package cluster

import (
	"net"

	"github.com/hashicorp/memberlist"
)

// maxHealthySyncs bounds the healthy members a joiner tries after joining
// through suspect seeds only.
const maxHealthySyncs = 3

// syncPastSuspectSeeds runs after a Join reached at least one seed, before
// the node is ready. A suspect node sends in push/pull, in place of the
// trips it withholds, the records it has seen of the fleet (shadow.go) —
// which are behind the fleet when the fleet tripped again since, out of its
// sight (the issue 12 soak finding: a joiner at gen 90 while the fleet held
// 91). So when every seed of this join that is a member is suspect, the
// node also exchanges state with a healthy member (at most
// maxHealthySyncs tried), so that its next trip starts from the fleet's
// generation. When none is known, what the suspect seeds sent is all
// there is. It is called from Join's goroutine only.
func (n *Node) syncPastSuspectSeeds(ml *memberlist.Memberlist, seeds []string) {
	seedAddrs := make(map[string]bool, len(seeds))
	for _, s := range seeds {
		if ua, err := net.ResolveUDPAddr("udp", s); err == nil {
			seedAddrs[ua.String()] = true
		}
	}
	suspectSeed := false
	var healthy []string
	for _, m := range n.view.list() {
		if m.Name == n.name || m.State != memberlist.StateAlive {
			continue
		}
		addr := m.Address()
		switch {
		case metaSuspect(m.Meta) && seedAddrs[addr]:
			suspectSeed = true
		case metaSuspect(m.Meta):
		case seedAddrs[addr]:
			return // a healthy seed: its state was the fleet's
		default:
			healthy = append(healthy, addr)
		}
	}
	if !suspectSeed {
		return
	}
	for i, addr := range healthy {
		if i == maxHealthySyncs || n.closed() {
			return
		}
		if _, err := ml.Join([]string{addr}); err == nil {
			return
		}
		n.log.Debug("join: no state exchange with a healthy member", "addr", addr)
	}
}
