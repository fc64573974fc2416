package cluster

// ProbeOwner returns the member that probes key when its open time runs
// out: the highest rendezvous score among the alive, non-suspect members,
// as every node computes it; "" when there is none. It is fast, takes no
// lock and is safe for concurrent use.
func (n *Node) ProbeOwner(key string) string {
	return owner(key, *n.peers.candidates.Load())
}
