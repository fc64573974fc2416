package cluster

import (
	"errors"
	"time"

	"github.com/hashicorp/memberlist"
	"github.com/proxywhirl/retrycoord/internal/logkey"
	"github.com/proxywhirl/retrycoord/state"
)

// delegate is the Node as memberlist's Delegate. Its methods never block and
// may be called before memberlist.Create returns.
type delegate Node

// events is the Node as memberlist's EventDelegate. memberlist calls it with
// its node lock held: it must not call back into memberlist.
type events Node

// Node metadata: a version byte, then flags.
const (
	metaVersion     = 1
	metaFlagSuspect = 1
)

// NodeMeta advertises whether the poison guard suspects this node.
func (d *delegate) NodeMeta(limit int) []byte {
	var flags byte
	if (*Node)(d).guard.suspect.Load() {
		flags |= metaFlagSuspect
	}
	return []byte{metaVersion, flags}
}

func metaSuspect(meta []byte) bool {
	return len(meta) >= 2 && meta[0] == metaVersion && meta[1]&metaFlagSuspect != 0
}

// NotifyMsg copies a message and hands it to the receiver. When the inbound
// queue is full, a message that fits in a packet is dropped and counted:
// gossip sends each record several times, and push/pull carries them all.
// A larger one came on a stream — a burst sent reliably, one copy only, which
// the burst's own gossip may have crowded out of the queue — and waits up to
// defaultStreamWait for room: memberlist reads each stream in a goroutine of its
// own, so the wait holds back that stream alone.
func (d *delegate) NotifyMsg(buf []byte) {
	n := (*Node)(d)
	if len(buf) == 0 {
		n.stats.malformed.Add(1)
		return
	}
	msg := append([]byte(nil), buf...)
	select {
	case n.inbox <- msg:
		return
	default:
	}
	if len(buf) > PacketBudget {
		if n.inboxWait != nil {
			n.inboxWait()
		}
		wait := time.NewTimer(n.streamWait)
		defer wait.Stop()
		select {
		case n.inbox <- msg:
			return
		case <-n.done:
		case <-wait.C:
		}
	}
	n.stats.inboxDropped.Add(1)
}

// defaultStreamWait bounds how long a message that came on a stream waits
// for room in a full inbound queue.
const defaultStreamWait = 2 * time.Second

// GetBroadcasts returns queued named broadcasts to piggyback on gossip.
func (d *delegate) GetBroadcasts(overhead, limit int) [][]byte {
	n := (*Node)(d)
	bs := n.queue.GetBroadcasts(overhead, limit)
	if len(bs) > 0 {
		n.traffic.gossip.Add(uint64(packetBytes(bs)))
	}
	return bs
}

// LocalState returns every non-pristine record for a push/pull exchange;
// of this node's own records that the poison guard withholds, it sends what
// the fleet already holds instead (guard.withholdOwn).
func (d *delegate) LocalState(join bool) []byte {
	n := (*Node)(d)
	now := time.Now()
	buf := encodeRecords(n.pushPullRecords(n.guard.withholdOwn(n.tb.Snapshot(), now), join, now))
	n.traffic.pushPull.Add(uint64(len(buf)))
	return buf
}

// MergeRemoteState merges a push/pull peer's records, marks the node ready
// (unless a Join of this node is under way: Join marks it once it also
// synced past suspect seeds, syncPastSuspectSeeds) and, for a periodic
// exchange (not a join), counts it once merged.
func (d *delegate) MergeRemoteState(buf []byte, join bool) {
	n := (*Node)(d)
	if len(buf) > 0 {
		n.handle(buf, false)
	}
	if !join || n.joining.Load() == 0 {
		n.markReady()
	}
	if !join {
		n.stats.pushPulls.Add(1)
	}
}

// NotifyJoin, NotifyUpdate and NotifyLeave copy what they need out of m:
// memberlist rewrites m in place later (see memberView).
func (e *events) NotifyJoin(m *memberlist.Node) {
	e.memberChanged(m)
	(*Node)(e).rejoins.joined(m)
}

func (e *events) NotifyUpdate(m *memberlist.Node) { e.memberChanged(m) }

func (e *events) NotifyLeave(m *memberlist.Node) {
	n := (*Node)(e)
	n.view.remove(m.Name)
	n.peers.remove(m.Name)
	n.rejoins.left(m, time.Now())
	n.noteMembers()
}

func (e *events) memberChanged(m *memberlist.Node) {
	n := (*Node)(e)
	n.view.set(m)
	n.peers.set(m.Name, metaSuspect(m.Meta))
	n.noteMembers()
}

// noteMembers tells the Table how many members share a retry budget's
// floor: those known now and those lost recently.
func (n *Node) noteMembers() {
	if n.tb != nil {
		n.tb.SetMembers(n.view.len() + n.rejoins.count(time.Now()))
	}
}

// receiveLoop decodes and merges what NotifyMsg queued.
func (n *Node) receiveLoop() {
	defer n.wg.Done()
	for {
		select {
		case <-n.done:
			return
		case buf := <-n.inbox:
			n.handle(buf, true)
		}
	}
}

// handle decodes one message and merges it. live is true for packets and
// gossip, false for push/pull state: live records that changed the table
// are queued for gossip again, so that they spread beyond the peers
// memberlist chose, and live trips of suspect nodes are dropped.
func (n *Node) handle(buf []byte, live bool) {
	n.stats.received.Add(1)
	m, err := decode(buf)
	switch {
	case errors.Is(err, errUnknownKind):
		n.stats.unknownKind.Add(1)
		return
	case errors.Is(err, errUnknownVersion):
		n.stats.unknownVersion.Add(1)
		return
	case err != nil:
		n.stats.malformed.Add(1)
		n.log.Debug("message dropped", logkey.Err, err, "bytes", len(buf))
		return
	}
	n.stats.unknownKind.Add(uint64(m.unknown))
	switch m.kind {
	case msgRecords:
		now := time.Now()
		for _, r := range m.records {
			n.mergeRecord(r, now, live)
		}
	case msgEvidence:
		n.mergeEvidence(m.origin, m.evidence)
	case msgBudget:
		if m.origin != n.name {
			n.stats.budgetMerged.Add(uint64(len(m.budget)))
			n.tb.MergeBudget(m.origin, m.budget)
		}
	case msgLatency:
		if m.origin != n.name {
			n.stats.sketchesMerged.Add(uint64(len(m.latency)))
			n.tb.MergeLatency(m.origin, m.latency)
		}
	}
}

// mergeRecord merges one remote record through the poison guard. live is
// true for packets and gossip, false for push/pull state.
//
// A live open or half-open record from a node that suspects its own network
// is dropped: it is that node's own trip (or its probe after one), and a
// half-open record of a generation the fleet never saw open would beat the
// fleet's closed one. Push/pull state is not filtered: a suspect node's
// LocalState withholds its own records itself, so what push/pull carries
// of a suspect origin is what the sender had adopted, and a node that
// dropped it (a joiner, say) would never agree with the fleet again.
func (n *Node) mergeRecord(r state.Record, now time.Time, live bool) {
	if live && r.IsBreaker() && r.Phase != state.PhaseClosed && r.Origin != n.name && n.peers.suspect(r.Origin) {
		n.stats.suspectIgnored.Add(1)
		return
	}
	if r.IsBreaker() && r.Phase == state.PhaseOpen && r.Origin != n.name {
		var ok bool
		if r, ok = n.guard.confirm(r, now); !ok {
			n.stats.unconfirmed.Add(1)
			return
		}
	}
	n.merge(r, now, live)
}

func (n *Node) merge(r state.Record, now time.Time, requeue bool) {
	changed := n.tb.Merge(r, state.SourceGossip)
	n.guard.shared(r, now, changed)
	if !changed {
		n.stats.stale.Add(1)
		return
	}
	n.stats.changed.Add(1)
	if r.HLC != 0 {
		n.stats.observe(now.Sub(r.HLC.Time()))
	}
	if requeue {
		n.enqueueBroadcast(r)
	}
}

func (n *Node) mergeEvidence(origin string, evs []state.Evidence) {
	if origin == n.name {
		return
	}
	if n.peers.suspect(origin) {
		n.stats.suspectIgnored.Add(uint64(len(evs)))
		return
	}
	for _, ev := range evs {
		n.stats.evidenceMerged.Add(1)
		if n.tb.MergeEvidence(origin, ev) {
			n.stats.evidenceTripped.Add(1)
		}
	}
}

// broadcast is one record queued for gossip, named by kind and key so that
// a newer record of the same key replaces a queued older one.
type broadcast struct {
	name string
	msg  []byte
}

func (b *broadcast) Name() string    { return b.name }
func (b *broadcast) Message() []byte { return b.msg }
func (b *broadcast) Finished()       {}
func (b *broadcast) Invalidates(o memberlist.Broadcast) bool {
	nb, ok := o.(memberlist.NamedBroadcast)
	return ok && nb.Name() == b.name
}

var _ memberlist.NamedBroadcast = (*broadcast)(nil)

// maxQueued bounds the gossip queue: beyond it the most-sent broadcasts are
// pruned (anti-entropy still carries them), so an isolated node does not
// grow it without bound.
const maxQueued = 8192

func (n *Node) enqueueBroadcast(r state.Record) {
	if !r.Fits() {
		return
	}
	k := r.Kind
	if r.IsBreaker() {
		k = state.KindBreaker
	}
	msg := state.AppendRecord(appendHeader(nil, msgRecords, recordsVersion(r)), r)
	if len(msg) > PacketBudget {
		return // too big to gossip; fan-out and push/pull carry it
	}
	n.queue.QueueBroadcast(&broadcast{name: string(rune('0'+k)) + ":" + r.Key().String(), msg: msg})
	if n.queue.NumQueued() > maxQueued {
		n.queue.Prune(maxQueued)
	}
}
