// Package cluster makes retrycoord's breakers fleet-wide: a trip on one node
// is open on every node within milliseconds, a recovering proxy is probed by
// one node instead of all of them, a dead proxy trips after about
// FailureThreshold failures across the whole fleet, and one node with a
// broken network cannot open healthy proxies everywhere.
//
// # What it owns
//
// A Node is one member of a hashicorp/memberlist cluster. It owns:
//
//   - the wire format: a versioned binary codec (kind byte, version byte,
//     varints, bounded lengths) for batches of records and for failure
//     evidence; unknown kinds and versions are dropped and counted;
//   - dissemination (DESIGN §4): the node subscribes to its state.Table and
//     sends out every local or manual change (what it merged from gossip or
//     the ledger, it does not echo): a background sender fans each record
//     out directly to every member by UDP, in packets within
//     PacketBudget (bursts go by TCP, a few peers at a time); the same record
//     is queued for gossip as a named broadcast (kind + key), and receivers
//     re-queue only what changed their table; push/pull anti-entropy
//     exchanges every non-pristine breaker record and the facts (pool,
//     policy) within a budget, the rest in turns (pushpull.go); every
//     RejoinInterval (1s) the
//     seeds and the members memberlist lost are pinged and, when they
//     answer, joined (a full state exchange), and a lost member that comes
//     back is synced with at once, so that a healed partition converges
//     within about a second even after memberlist declared the other side
//     dead; Leave waits for its announcement only while a peer answers;
//   - failure evidence: every EvidenceInterval, and only when something
//     failed, this node's own failure counts go to every member; what
//     arrives is merged with Table.MergeEvidence;
//   - retry budgets and latency: with the evidence, every EvidenceInterval
//     and only when they changed, this node's budget counts per site
//     (message kind 3), and at most once a second its latency sketches per
//     site (kind 4); nodes that predate them drop both kinds and count
//     them. The members the Table splits a budget's floor by are those
//     memberlist lists plus those lost within the last hour;
//   - probe ownership: rendezvous hashing of (upstream, member) over the
//     alive, non-suspect members, installed with Table.SetProbeOwner while
//     the node is started;
//   - the poison guard: a node that sees most of its pool fail at once keeps
//     its trips (its own open and half-open records, also those of a
//     withheld generation after it recovered) and evidence to itself,
//     advertises itself as suspect in its node metadata, and sends in
//     push/pull what the fleet already holds in their place; the others
//     drop a suspect node's open and half-open records arriving by packet
//     or gossip, and its evidence (push/pull state is not filtered: it
//     carries what its sender adopted; what a suspect node has seen of the
//     fleet may be behind, so a node that joined through suspect seeds only
//     also syncs with a healthy member before it is ready). ConfirmTrips
//     adopts a remote trip only once that many distinct nodes reported it;
//   - gossip encryption (keyring, verified both ways) and the cluster label;
//   - memberlist's log lines, bridged into slog with their levels.
//
// It does not own the breakers, the merge, the record codec's body or the
// records' meaning (package state). A trip leaves state by one road: the
// Table's Subscription, read by this node's sender, then memberlist. The
// package faultnet holds an in-memory transport with loss, delay and
// partitions for tests.
//
// # Concurrency
//
// A Node is safe for concurrent use. The Table never waits for it: the
// node's subscription is bounded (QueueSize) and drops, and counts, when
// full; the sender then sends this node's own facts changed since the last
// it saw from the table (no fact is lost; a dropped breaker transition
// waits for push/pull or the breaker's next one). memberlist's delegate
// callbacks do not block its packet handling: NotifyMsg copies each
// message to a bounded queue served by one receiver goroutine, dropping a
// packet when the queue is full; only a message that came on a stream (a
// burst sent reliably) waits, up to 2s, in that stream's own goroutine.
// New starts nothing. Start starts memberlist, the sender, the receiver, a
// ticker goroutine (evidence, re-join, membership view) and a small
// goroutine that re-advertises the node metadata when the poison guard
// flips (memberlist's UpdateNode waits for gossip, so it never runs in the
// other loops, and only for a bounded time). Re-join attempts (a ping, then
// a join) and Leave's pings run in goroutines of their own, at most one per
// address, each bounded by memberlist's ProbeTimeout when nobody answers.
// Close stops memberlist and them, ends the subscription, and returns once
// they have exited. Close is idempotent.
//
// # Usage
//
//	tb, _ := state.NewTable(state.Config{Node: "node-1"})
//	n, err := cluster.Start(ctx, cluster.Config{ // New, Start and Join
//		Table:    tb,
//		BindAddr: "0.0.0.0", BindPort: 7946,
//		Seeds:    []string{"10.0.0.2:7946"}, // re-joined every RejoinInterval
//		Keys:     []string{os.Getenv("RETRYCOORD_GOSSIP_KEY")},
//	})
//	if err != nil { ... }
//	defer n.Close()
//	// The fleet's state is in tb, and tb's trips reach the fleet.
package cluster
