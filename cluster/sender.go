package cluster

import (
	"sync"
	"time"

	"github.com/hashicorp/memberlist"
	"github.com/proxywhirl/retrycoord/internal/logkey"
	"github.com/proxywhirl/retrycoord/state"
)

const (
	// burstPackets is the most packets a batch is sent as by UDP; a larger
	// burst goes to each peer as one reliable (TCP) message.
	burstPackets = 4
	// reliableParallel bounds concurrent reliable sends.
	reliableParallel = 8
	// maxBatch bounds the records taken from the queue at once.
	maxBatch = 4096
)

// sendLoop is the background sender: it reads the node's subscription to
// the Table — the one queue between a trip and the wire — and sends out
// every local or manual change: each record is queued for gossip, and the
// batch goes directly to every alive member. Changes merged from gossip or
// the ledger are not sent again (gossip re-queues what changed the table
// itself, in merge).
//
// When the subscription drops changes (a burst larger than QueueSize), the
// sender catches up with this node's own facts from the Table, which holds
// every one (catchUpFacts): a pool of thousands added at once reaches the
// fleet in the same way as one entry, not only through push/pull's turns.
// Dropped breaker transitions are not sent again: the breaker's state
// goes whole in every push/pull, and its next transition supersedes it.
func (n *Node) sendLoop() {
	defer n.wg.Done()
	batch := make([]state.Transition, 0, 64)
	for {
		select {
		case <-n.done:
			return
		case <-n.sub.Missed:
			n.catchUpFacts()
			continue
		case tr, ok := <-n.sub.C:
			if !ok {
				return
			}
			batch = append(batch[:0], tr)
		}
	drain:
		for len(batch) < maxBatch {
			select {
			case tr, ok := <-n.sub.C:
				if !ok {
					break drain
				}
				batch = append(batch, tr)
			default:
				break drain
			}
		}
		for _, tr := range batch {
			if tr.Seq > 0 {
				n.factsSeen.saw(tr.Seq)
			}
		}
		if n.factsSeen.gaps() > maxFactGaps {
			n.catchUpFacts() // a gap that no drop explains: bound what is kept
		}
		n.disseminate(batch)
	}
}

// factKinds are the kinds of fact a node shares.
var factKinds = [...]state.Kind{state.KindPool, state.KindPolicy}

// catchUpFacts sends this node's own facts that changed after every fact
// the sender saw (factsSeen) — those its subscription may have dropped,
// and some it did send, again — in batches of maxBatch, as the sender sends
// a burst; facts merged from others are their origins' to send.
func (n *Node) catchUpFacts() {
	since, last := n.factsSeen.upTo, uint64(1<<64-1)
	var out []state.Transition
	for _, kind := range factKinds {
		recs, l := n.tb.FactsSince(kind, since)
		// The smaller number: a fact of a kind read first that merged
		// before the second read is read next time.
		last = min(last, l)
		for _, r := range recs {
			if r.Origin == n.tb.Node() {
				out = append(out, state.Transition{Record: r, Source: state.SourceManual})
			}
		}
	}
	n.factsSeen.caughtUp(last)
	n.stats.factsCaughtUp.Add(uint64(len(out)))
	for len(out) > 0 {
		k := min(len(out), maxBatch)
		n.disseminate(out[:k])
		out = out[k:]
	}
}

// maxFactGaps bounds the facts factSeqs holds beyond a gap before the
// sender catches up without a drop signalled.
const maxFactGaps = 4 * maxBatch

// factSeqs is how far the sender has seen the Table's facts by their merge
// numbers (state.Transition.Seq): every fact numbered up to upTo reached
// it, through the subscription or a catch-up. Numbers above a gap (a fact
// merged but not yet published, or one dropped) wait in ahead until the
// gap closes. It belongs to the send loop.
type factSeqs struct {
	upTo  uint64
	ahead map[uint64]struct{}
}

// saw notes a fact's number.
func (f *factSeqs) saw(seq uint64) {
	switch {
	case seq <= f.upTo:
	case seq == f.upTo+1:
		f.upTo = seq
		f.advance()
	default:
		if f.ahead == nil {
			f.ahead = make(map[uint64]struct{})
		}
		f.ahead[seq] = struct{}{}
	}
}

// caughtUp notes that every fact up to last was read from the table.
func (f *factSeqs) caughtUp(last uint64) {
	f.upTo = max(f.upTo, last)
	for seq := range f.ahead {
		if seq <= f.upTo {
			delete(f.ahead, seq)
		}
	}
	f.advance()
}

// advance moves upTo over the numbers in ahead that follow it.
func (f *factSeqs) advance() {
	for {
		if _, ok := f.ahead[f.upTo+1]; !ok {
			return
		}
		delete(f.ahead, f.upTo+1)
		f.upTo++
	}
}

// gaps returns how many numbers wait beyond a gap.
func (f *factSeqs) gaps() int { return len(f.ahead) }

// outbound reports whether a transition of the Table is this node's to
// send: its own findings and its operator's changes, not what it merged.
func outbound(tr state.Transition) bool {
	return tr.Source == state.SourceLocal || tr.Source == state.SourceManual
}

func (n *Node) disseminate(batch []state.Transition) {
	out := make([]state.Record, 0, len(batch))
	evaluated, suspect := false, false
	now := time.Now()
	for _, tr := range batch {
		if !outbound(tr) {
			continue
		}
		n.stats.published.Add(1)
		r := tr.Record
		if n.guard.ownRecord(tr) {
			if !evaluated {
				suspect, evaluated = n.guard.evaluate(), true
			}
			if n.guard.hold(r, suspect) {
				n.stats.withheld.Add(1)
				continue
			}
		}
		n.guard.shared(r, now, true)
		out = append(out, r)
		n.enqueueBroadcast(r)
	}
	if len(out) == 0 || n.cfg.DisableFanout {
		return
	}
	peers := n.alivePeers()
	if len(peers) == 0 {
		return
	}
	packets, big := packRecords(out, PacketBudget)
	if len(packets) <= burstPackets && len(big) == 0 {
		n.traffic.records.Add(uint64(packetBytes(packets) * len(peers)))
		n.sendPackets(peers, packets)
		return
	}
	msg := encodeRecords(out)
	n.traffic.records.Add(uint64(len(msg) * len(peers)))
	n.sendReliable(peers, msg)
}

func packetBytes(packets [][]byte) int {
	sum := 0
	for _, p := range packets {
		sum += len(p)
	}
	return sum
}

// sendPackets sends every packet to every peer by UDP.
func (n *Node) sendPackets(peers []*memberlist.Node, packets [][]byte) {
	if ml := n.ml.Load(); ml != nil {
		n.sendPacketsTo(ml, peers, packets)
	}
}

func (n *Node) sendPacketsTo(ml *memberlist.Memberlist, peers []*memberlist.Node, packets [][]byte) {
	for _, p := range peers {
		for _, pkt := range packets {
			if err := ml.SendBestEffort(p, pkt); err != nil {
				n.stats.sendErrors.Add(1)
				continue
			}
			n.stats.packetsSent.Add(1)
		}
	}
}

// sendReliable sends one message to every peer over TCP, a few at a time,
// and returns when all are done (each bounded by memberlist's TCPTimeout).
func (n *Node) sendReliable(peers []*memberlist.Node, msg []byte) {
	ml := n.ml.Load()
	if ml == nil {
		return
	}
	sem := make(chan struct{}, reliableParallel)
	var wg sync.WaitGroup
	for _, p := range peers {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			if err := ml.SendReliable(p, msg); err != nil {
				n.stats.sendErrors.Add(1)
				n.log.Debug("reliable send failed", logkey.To, p.Name, logkey.Err, err)
				return
			}
			n.stats.reliableSends.Add(1)
		}()
	}
	wg.Wait()
}

// maintainInterval is how often the member view, the poison guard (while
// suspect) and pending confirmations are refreshed.
const maintainInterval = 500 * time.Millisecond

// guardEvalInterval bounds how often a burst of failures across many
// upstreams re-evaluates the poison guard (a pass over the table) before
// evidence is sent.
const guardEvalInterval = 100 * time.Millisecond

// tickLoop sends evidence, re-joins the seeds and keeps the views fresh.
func (n *Node) tickLoop() {
	defer n.wg.Done()
	evidence := time.NewTicker(n.cfg.EvidenceInterval)
	defer evidence.Stop()
	rejoin := time.NewTicker(n.cfg.RejoinInterval)
	defer rejoin.Stop()
	maintain := time.NewTicker(maintainInterval)
	defer maintain.Stop()
	latency := time.NewTicker(latencyInterval)
	defer latency.Stop()
	var budget []state.BudgetCount
	var sketches []state.LatencySketch
	var buf []state.Evidence
	var lastEval time.Time
	for {
		select {
		case <-n.done:
			return
		case <-evidence.C:
			budget = n.tb.BudgetCounts(budget[:0])
			if len(budget) > 0 {
				n.sendBudget(budget)
				clear(budget)
			}
			buf = n.flushEvidence(buf[:0], &lastEval)
			clear(buf)
		case <-rejoin.C:
			n.rejoin()
		case addr := <-n.rejoins.back:
			n.joinAt(addr, true)
		case <-latency.C:
			sketches = n.tb.LatencySketches(sketches[:0])
			if len(sketches) > 0 {
				n.sendLatency(sketches)
				clear(sketches)
			}
		case now := <-maintain.C:
			n.maintain(now)
		}
	}
}

// maintain is the tick loop's pass every maintainInterval: it refreshes the
// member count the Table splits budgets by and the probe candidates,
// re-evaluates the poison guard while it suspects this node (so that the
// node recovers without a trip of its own) and forgets unconfirmed trips
// older than the window.
func (n *Node) maintain(now time.Time) {
	n.noteMembers()
	n.peers.setAlive(n.aliveNames())
	if n.guard.suspect.Load() {
		n.guard.evaluate()
	}
	n.guard.prune(now)
}

// flushEvidence sends this node's pending evidence (appended to buf, which
// it returns), first re-evaluating the poison guard when the batch is a
// burst across upstreams: at most once per guardEvalInterval (lastEval),
// and at once when the batch alone holds PoisonMinUpstreams proxies at the
// guard's own-failure mark (guard.due), so that a broken node does not
// send counts past that mark in the interval (issue 12, soak: node-6 sent
// three failures each at FailureThreshold 4 with the interval not yet run
// out).
func (n *Node) flushEvidence(buf []state.Evidence, lastEval *time.Time) []state.Evidence {
	buf = n.tb.PendingEvidence(buf)
	if len(buf) == 0 {
		return buf
	}
	if pm := n.cfg.PoisonMinUpstreams; pm > 0 && len(buf) >= pm && (time.Since(*lastEval) > guardEvalInterval || n.guard.due(buf)) {
		*lastEval = time.Now()
		n.guard.evaluate()
	}
	n.sendEvidence(buf)
	return buf
}

// aliveNames returns the names of the alive members, this node included,
// unsorted: Members without its sort, which every node of a large fleet
// would otherwise pay twice a second.
func (n *Node) aliveNames() []string {
	ms := n.view.list()
	out := make([]string, 0, len(ms))
	for _, m := range ms {
		if m.State == memberlist.StateAlive {
			out = append(out, m.Name)
		}
	}
	return out
}

// sendEvidence sends this node's failure counts to every alive member,
// unless the poison guard suspects this node.
func (n *Node) sendEvidence(evs []state.Evidence) {
	if n.guard.suspect.Load() {
		return
	}
	peers := n.alivePeers()
	if len(peers) == 0 {
		return
	}
	n.stats.evidenceSent.Add(uint64(len(evs)))
	n.sendCounts(peers, packEvidence(n.name, evs, PacketBudget))
}

// sendCounts sends packets of counts (evidence, retry budgets, latency
// sketches) to peers; their bytes are counted as evidence traffic.
func (n *Node) sendCounts(peers []*memberlist.Node, packets [][]byte) {
	n.traffic.evidence.Add(uint64(packetBytes(packets) * len(peers)))
	n.sendPackets(peers, packets)
}

// latencyInterval is how often latency sketches are sent: at most once a
// second, as they change slowly and are larger than counts.
const latencyInterval = time.Second

// sendBudget sends this node's retry budget counts to every alive member.
// Unlike evidence they are sent while the poison guard suspects this
// node: they count what it sent the sites, not what failed.
func (n *Node) sendBudget(counts []state.BudgetCount) {
	peers := n.alivePeers()
	if len(peers) == 0 {
		return
	}
	n.stats.budgetSent.Add(uint64(len(counts)))
	n.sendCounts(peers, packBudget(n.name, counts, PacketBudget))
}

// sendLatency sends this node's latency sketches to every alive member.
func (n *Node) sendLatency(sketches []state.LatencySketch) {
	peers := n.alivePeers()
	if len(peers) == 0 {
		return
	}
	n.stats.sketchesSent.Add(uint64(len(sketches)))
	n.sendCounts(peers, packLatency(n.name, sketches, PacketBudget))
}
