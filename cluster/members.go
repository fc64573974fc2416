package cluster

import (
	"slices"
	"strings"
	"sync"

	"github.com/hashicorp/memberlist"
)

// Member is one member of the fleet as this node sees it.
type Member struct {
	Name string
	// Addr is the member's gossip address, "host:port".
	Addr string
	// State is memberlist's view: alive, suspect (not answering probes),
	// dead or left. memberlist v0.7 leaves the state of the nodes it hands
	// out at alive (hashicorp/memberlist#266), and a member leaves the list
	// when it is declared dead or left, so this reads "alive" in practice.
	State string
	// Suspect reports that the member's poison guard suspects its own
	// network: its trips and evidence are ignored.
	Suspect bool
}

// MemberStates returns every member memberlist knows (alive or suspected),
// this node included, sorted by name.
func (n *Node) MemberStates() []Member {
	var out []Member
	for _, m := range n.view.list() {
		out = append(out, Member{
			Name:    m.Name,
			Addr:    m.Address(),
			State:   memberState(m.State),
			Suspect: metaSuspect(m.Meta),
		})
	}
	slices.SortFunc(out, func(a, b Member) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// memberView is the node's own copy of memberlist's member list, kept from
// the event callbacks (which memberlist calls under its node lock). The
// *memberlist.Node values memberlist hands out stay memberlist's: it
// rewrites them in place when a member restarts at a new address or
// changes its metadata (hashicorp/memberlist#306), so reading one after
// the callback or after Members() returned is a data race. The view stores
// a copy per member and never writes a stored copy again, so its pointers
// may be read, and passed to SendBestEffort and SendReliable, at any time.
type memberView struct {
	mu    sync.Mutex                  // guards nodes
	nodes map[string]*memberlist.Node // name → copy, immutable once stored
}

func (v *memberView) init() { v.nodes = map[string]*memberlist.Node{} }

// set stores a copy of m. It is cheap and never blocks on memberlist.
func (v *memberView) set(m *memberlist.Node) {
	c := *m
	c.Addr = slices.Clone(m.Addr)
	c.Meta = slices.Clone(m.Meta)
	v.mu.Lock()
	v.nodes[c.Name] = &c
	v.mu.Unlock()
}

func (v *memberView) remove(name string) {
	v.mu.Lock()
	delete(v.nodes, name)
	v.mu.Unlock()
}

// list returns the members (alive or suspected), this node included, in no
// order. The pointed-to copies must not be written.
func (v *memberView) list() []*memberlist.Node {
	v.mu.Lock()
	defer v.mu.Unlock()
	out := make([]*memberlist.Node, 0, len(v.nodes))
	for _, m := range v.nodes {
		out = append(out, m)
	}
	return out
}

func (v *memberView) len() int {
	v.mu.Lock()
	defer v.mu.Unlock()
	return len(v.nodes)
}

func memberState(s memberlist.NodeStateType) string {
	switch s {
	case memberlist.StateAlive:
		return "alive"
	case memberlist.StateSuspect:
		return "suspect"
	case memberlist.StateDead:
		return "dead"
	case memberlist.StateLeft:
		return "left"
	}
	return "unknown"
}
