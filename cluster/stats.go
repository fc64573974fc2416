package cluster

import (
	"sync/atomic"
	"time"
)

// Stats are a node's counters since it was created. Counters only grow.
type Stats struct {
	Members        int  // alive members, this node included
	Suspect        bool // the poison guard suspects this node's own network
	BroadcastQueue int  // named broadcasts waiting to be gossiped

	Published      uint64 // local and manual changes the sender took from the Table to send
	PublishDropped uint64 // changes of the Table the node's subscription missed: it was full
	FactsCaughtUp  uint64 // own facts sent again from the Table after the subscription dropped changes (sender.go)
	PacketsSent    uint64 // best-effort fan-out and evidence packets sent
	ReliableSends  uint64 // batches sent by SendReliable (bursts)
	SendErrors     uint64 // sends memberlist refused

	MessagesReceived uint64 // messages taken from memberlist (packets and gossip)
	PushPulls        uint64 // periodic push/pull exchanges whose state this node merged (either end; joins not counted)
	PushPullFactsCut uint64 // push/pull states this node sent with only part of its facts: they were over the budget (pushpull.go)
	InboxDropped     uint64 // messages dropped: the inbound queue was full
	Malformed        uint64 // messages that did not decode
	UnknownKind      uint64 // messages, or records, of a kind this node does not know
	UnknownVersion   uint64 // messages of a version this node does not read

	RecordsChanged   uint64 // remote records that changed the table (and were re-gossiped)
	RecordsStale     uint64 // remote records the table already had
	SuspectIgnored   uint64 // trips and evidence ignored because their origin is suspect
	TripsWithheld    uint64 // own open and half-open records not sent: the node is (or was, for their generation) suspect
	TripsUnconfirmed uint64 // remote trips held until ConfirmTrips nodes report them

	EvidenceSent    uint64 // evidence entries sent
	EvidenceMerged  uint64 // evidence entries merged
	EvidenceTripped uint64 // trips caused by merged evidence

	BudgetSent     uint64 // retry budget counts (one per site) sent
	BudgetMerged   uint64 // retry budget counts received and merged
	SketchesSent   uint64 // latency sketches (one per site) sent
	SketchesMerged uint64 // latency sketches received and merged

	// Propagation is the delay from a record's HLC wall time to the moment
	// it changed this node's table.
	Propagation Histogram
}

// Histogram counts durations in buckets: Counts[i] holds those ≤ Bounds[i],
// the last count those above every bound.
type Histogram struct {
	Bounds []time.Duration
	Counts []uint64
}

var propagationBounds = []time.Duration{
	time.Millisecond, 2 * time.Millisecond, 5 * time.Millisecond, 10 * time.Millisecond,
	20 * time.Millisecond, 50 * time.Millisecond, 100 * time.Millisecond, 200 * time.Millisecond,
	500 * time.Millisecond, time.Second, 2 * time.Second, 5 * time.Second,
}

type counters struct {
	published, packetsSent, reliableSends, sendErrors, factsCaughtUp atomic.Uint64
	received, inboxDropped, malformed, unknownKind, unknownVersion   atomic.Uint64
	changed, stale, suspectIgnored, withheld, unconfirmed            atomic.Uint64
	evidenceSent, evidenceMerged, evidenceTripped                    atomic.Uint64
	pushPulls, pushPullFactsCut                                      atomic.Uint64
	budgetSent, budgetMerged, sketchesSent, sketchesMerged           atomic.Uint64
	propagation                                                      [13]atomic.Uint64
}

func (c *counters) observe(d time.Duration) {
	i := 0
	for i < len(propagationBounds) && d > propagationBounds[i] {
		i++
	}
	c.propagation[i].Add(1)
}

func (c *counters) snapshot() Stats {
	s := Stats{
		Published: c.published.Load(), FactsCaughtUp: c.factsCaughtUp.Load(),
		PacketsSent: c.packetsSent.Load(), ReliableSends: c.reliableSends.Load(), SendErrors: c.sendErrors.Load(),
		MessagesReceived: c.received.Load(), PushPulls: c.pushPulls.Load(), PushPullFactsCut: c.pushPullFactsCut.Load(), InboxDropped: c.inboxDropped.Load(), Malformed: c.malformed.Load(),
		UnknownKind: c.unknownKind.Load(), UnknownVersion: c.unknownVersion.Load(),
		RecordsChanged: c.changed.Load(), RecordsStale: c.stale.Load(), SuspectIgnored: c.suspectIgnored.Load(),
		TripsWithheld: c.withheld.Load(), TripsUnconfirmed: c.unconfirmed.Load(),
		EvidenceSent: c.evidenceSent.Load(), EvidenceMerged: c.evidenceMerged.Load(), EvidenceTripped: c.evidenceTripped.Load(),
		BudgetSent: c.budgetSent.Load(), BudgetMerged: c.budgetMerged.Load(),
		SketchesSent: c.sketchesSent.Load(), SketchesMerged: c.sketchesMerged.Load(),
		Propagation: Histogram{Bounds: append([]time.Duration(nil), propagationBounds...), Counts: make([]uint64, len(c.propagation))},
	}
	for i := range c.propagation {
		s.Propagation.Counts[i] = c.propagation[i].Load()
	}
	return s
}
