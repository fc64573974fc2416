// Package faultnet is an in-memory memberlist.Transport with faults: per-link
// packet loss and delay, named partitions, deaf nodes, heal, and a shutdown
// that never leaves a sender hanging. It exists for tests of package cluster.
//
// Packets are copied and delivered to the destination's packet channel,
// after the link's delay, unless the link drops them, the two ends are in
// different partitions, the destination is deaf, or the destination's buffer
// is full (all counted as dropped, like UDP). Streams are in-memory pipes
// (net.Pipe); a dial across a partition, to or from a deaf node fails.
// Delays apply to packets only.
//
// A Network and its Transports are safe for concurrent use.
//
// # Usage
//
//	var fn faultnet.Network
//	tr := fn.NewTransport("node-1") // cluster.Config{Transport: tr, Seeds: []string{other.Addr()}}
//	fn.SetFault(faultnet.Fault{Drop: 0.1, Delay: time.Millisecond})
//	fn.Partition("left", "node-1", "node-2")
//	fn.Deafen("node-3") // hears nothing; what it sends arrives
//	fn.Heal()
package faultnet
