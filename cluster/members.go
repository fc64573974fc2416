package cluster

import (
	"net"
	"slices"
	"strconv"
	"strings"

	"github.com/hashicorp/memberlist"
)

// Member is one member of the fleet as this node sees it.
type Member struct {
	Name string
	// Addr is the member's gossip address, "host:port".
	Addr string
	// State is memberlist's view: alive, suspect (not answering probes),
	// dead or left.
	State string
	// Suspect reports that the member's poison guard suspects its own
	// network: its trips and evidence are ignored.
	Suspect bool
}

// MemberStates returns every member memberlist knows (alive or suspected),
// this node included, sorted by name.
func (n *Node) MemberStates() []Member {
	ml := n.ml.Load()
	if ml == nil {
		return nil
	}
	var out []Member
	for _, m := range ml.Members() {
		out = append(out, Member{
			Name:    m.Name,
			Addr:    net.JoinHostPort(m.Addr.String(), strconv.Itoa(int(m.Port))),
			State:   memberState(m.State),
			Suspect: metaSuspect(m.Meta),
		})
	}
	slices.SortFunc(out, func(a, b Member) int { return strings.Compare(a.Name, b.Name) })
	return out
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
