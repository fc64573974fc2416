package cluster

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/memberlist"
	"github.com/proxywhirl/retrycoord/internal/logkey"
	"github.com/proxywhirl/retrycoord/state"
)

// ErrClosed is returned by Start, Join and Leave on a closed Node.
var ErrClosed = errors.New("cluster: node closed")

// ErrStarted is returned by a second Start.
var ErrStarted = errors.New("cluster: node already started")

// Node is this process's member of the fleet. It subscribes to its Table
// and sends out what changed there locally or by an operator's hand, merges
// what other nodes send into the Table, exchanges failure evidence, decides
// probe ownership and guards the fleet against its own broken network. A
// Node is safe for concurrent use.
type Node struct {
	cfg  Config
	tb   *state.Table
	name string
	log  *slog.Logger

	ml     atomic.Pointer[memberlist.Memberlist]
	queue  *memberlist.TransmitLimitedQueue
	sub    *state.Subscription // the Table's changes → sender; set by Start
	inbox  chan []byte         // NotifyMsg → receiver
	metaCh chan struct{}       // guard → metaLoop: the node metadata changed

	// factsSeen is how far the sender has seen the Table's facts; set by
	// Start, then the send loop's alone.
	factsSeen factSeqs

	peers   peers
	view    memberView // members, copied from memberlist's events (members.go)
	addr    string     // "host:port", set by Start before any reader starts
	guard   guard
	stats   counters
	traffic traffic    // bytes sent, by what they carry (traffic.go)
	seedMu  sync.Mutex // guards seeds
	seeds   []string
	keys    keyManager // the gossip keyring (keys.go)

	rotation   factRotation  // where push/pull goes on sending facts over its budget (pushpull.go)
	factBudget atomic.Int64  // replaces that budget in tests; 0 in use
	inboxWait  func()        // tests: called when a stream's message starts waiting for room (delegate.go)
	streamWait time.Duration // how long it waits: defaultStreamWait, longer in tests

	joining atomic.Int32 // Joins under way: they, not their push/pull, make the node ready
	rejoins rejoins      // what to re-join after a partition (rejoin.go)
	hasLeft atomic.Bool  // Leave was called: no more re-joins

	ready     chan struct{}
	readyOnce sync.Once

	startMu   sync.Mutex // guards started; held by Start and Close
	started   bool
	done      chan struct{}
	closeOnce sync.Once
	closeErr  error
	wg        sync.WaitGroup
}

// Start is the one call that makes a process a fleet member: New, then
// Node.Start, then Join of cfg.Seeds. It returns once the node holds the
// fleet's state (Ready is closed): at once for the first node of a fleet
// (no seeds), else after the first seed answered. When none answers before
// ctx ends, or the config is invalid, it returns an error and no node (the
// node it started is closed).
func Start(ctx context.Context, cfg Config) (*Node, error) {
	n, err := New(cfg)
	if err != nil {
		return nil, err
	}
	if err := n.Start(); err != nil {
		return nil, errors.Join(err, n.Close())
	}
	if _, err := n.Join(ctx, nil); err != nil {
		return nil, errors.Join(err, n.Close())
	}
	select {
	case <-n.Ready():
		return n, nil
	case <-ctx.Done():
		return nil, errors.Join(ctx.Err(), n.Close())
	}
}

// New validates a copy of cfg and returns a Node that is not started: it
// listens on nothing and runs nothing until Start.
func New(cfg Config) (*Node, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	kr, err := keyring(cfg.Keys)
	if err != nil {
		return nil, err
	}
	n := &Node{
		cfg:    cfg,
		tb:     cfg.Table,
		name:   cfg.Name,
		log:    cfg.Logger.With(logkey.Node, cfg.Name),
		inbox:  make(chan []byte, cfg.QueueSize),
		metaCh: make(chan struct{}, 1),
		ready:  make(chan struct{}),
		done:   make(chan struct{}),
		seeds:  slices.Clone(cfg.Seeds),
	}
	n.streamWait = defaultStreamWait
	n.keys.ring = kr
	n.peers.init(n.name)
	n.view.init()
	n.rejoins.init()
	n.guard.init(n)
	n.queue = &memberlist.TransmitLimitedQueue{NumNodes: n.numNodes, RetransmitMult: 4}
	return n, nil
}

// Start subscribes to the Table, starts memberlist listening, the sender,
// receiver and ticker goroutines, and installs the probe-owner hook on the
// Table. It contacts no one: call Join (the package's Start does both). It
// returns ErrStarted when called twice and ErrClosed after Close.
func (n *Node) Start() error {
	n.startMu.Lock()
	defer n.startMu.Unlock()
	switch {
	case n.closed():
		return ErrClosed
	case n.started:
		return ErrStarted
	}
	cfg := n.cfg
	mc := memberlist.DefaultLANConfig()
	// Our messages are small varint batches: LZW costs more CPU on every
	// packet than it saves in bytes.
	mc.EnableCompression = false
	if cfg.Base != nil {
		c := *cfg.Base
		mc = &c
	}
	mc.Name = n.name
	mc.BindAddr, mc.BindPort = cfg.BindAddr, cfg.BindPort
	mc.AdvertiseAddr, mc.AdvertisePort = cfg.AdvertiseAddr, cfg.AdvertisePort
	if cfg.GossipInterval > 0 {
		mc.GossipInterval = cfg.GossipInterval
	}
	mc.PushPullInterval = cfg.PushPullInterval
	mc.Keyring, mc.SecretKey = n.keys.ring, nil
	mc.GossipVerifyIncoming, mc.GossipVerifyOutgoing = true, true
	mc.Label = cfg.Label
	mc.Delegate = (*delegate)(n)
	mc.Events = (*events)(n)
	mc.LogOutput, mc.Logger = nil, newMemberlistLogger(cfg.Logger)
	mc.Transport = cfg.Transport
	var own *netTransport
	if mc.Transport == nil {
		var err error
		if own, err = newNetTransport(cfg.BindAddr, cfg.BindPort, &n.traffic.wire); err != nil {
			return err
		}
		mc.Transport = own
		if mc.BindPort == 0 { // as memberlist does for its own transport
			mc.BindPort = own.port()
			mc.AdvertisePort = mc.BindPort
		}
	}
	n.queue.RetransmitMult = mc.RetransmitMult

	// Subscribed before anything can merge: every change from here on
	// reaches the sender, and the sender sees only the Table's own
	// changes (a merged record comes back with SourceGossip and is not
	// sent again).
	n.sub = n.tb.Subscribe(cfg.QueueSize)
	// Read after subscribing: a fact numbered up to here is in the table
	// or on its way to the subscription (catchUpFacts).
	n.factsSeen = factSeqs{upTo: n.tb.FactSeq()}
	n.wg.Add(2)
	go n.receiveLoop()
	go n.sendLoop()
	ml, err := memberlist.Create(mc)
	if err != nil {
		if own != nil {
			_ = own.Shutdown()
		}
		close(n.done)
		n.wg.Wait()
		n.sub.Close()
		return fmt.Errorf("cluster: start memberlist: %w", err)
	}
	n.started = true
	// Nothing rewrites the local node before Start returns: no one has
	// heard of it yet and metaLoop is not started.
	ln := ml.LocalNode()
	n.addr = net.JoinHostPort(ln.Addr.String(), strconv.Itoa(int(ln.Port)))
	n.ml.Store(ml)
	n.tb.SetProbeOwner(n.ownsProbe)
	if len(n.seeds) == 0 {
		n.markReady()
	}
	n.wg.Add(2)
	go n.tickLoop()
	go n.metaLoop()
	n.log.Debug("cluster node started", "addr", n.Addr())
	return nil
}

// metaWait bounds how long metaLoop waits for memberlist to gossip a
// metadata update. The update stays queued for gossip after that; waiting
// longer would only delay Close (memberlist never sends it once shut down).
const metaWait = 250 * time.Millisecond

// metaChanged asks metaLoop to re-advertise the node's metadata. It never
// blocks: requests made while one is pending coalesce (NodeMeta reads the
// current state when the update is made).
func (n *Node) metaChanged() {
	select {
	case n.metaCh <- struct{}{}:
	default:
	}
}

// metaLoop re-advertises the node's metadata when it changed, outside the
// sender and tick loops: memberlist's UpdateNode waits for the update to be
// gossiped, which takes a few gossip rounds (or forever, with no timeout,
// once memberlist is shut down).
func (n *Node) metaLoop() {
	defer n.wg.Done()
	for {
		select {
		case <-n.done:
			return
		case <-n.metaCh:
		}
		ml := n.ml.Load()
		if ml == nil || n.closed() {
			continue
		}
		if err := ml.UpdateNode(metaWait); err != nil {
			n.log.Debug("node metadata update not yet gossiped", logkey.Err, err)
		}
	}
}

// Name returns the node's member name.
func (n *Node) Name() string { return n.name }

// Addr returns the "host:port" other nodes join this one at ("" before
// Start).
func (n *Node) Addr() string { return n.addr }

// Ready is closed once the node holds the fleet's state: after its first
// push/pull exchange with another node (for a Join through seeds that are
// all suspect, also with a healthy member), or at Start when Config.Seeds
// is empty (the first node of a fleet). While no seed answers it stays open;
// the periodic re-join keeps trying.
func (n *Node) Ready() <-chan struct{} { return n.ready }

func (n *Node) markReady() { n.readyOnce.Do(func() { close(n.ready) }) }

// Join contacts the seeds (nil: Config.Seeds), exchanging full state with
// the first one reached, and remembers them for the periodic re-join. It
// returns how many were reached, and an error when none was. It gives up
// waiting when ctx ends (memberlist finishes the attempt in the background).
func (n *Node) Join(ctx context.Context, seeds []string) (int, error) {
	ml := n.ml.Load()
	if n.closed() || ml == nil {
		return 0, ErrClosed
	}
	if seeds == nil {
		seeds = n.cfg.Seeds
	}
	seeds = n.addSeeds(seeds)
	if len(seeds) == 0 {
		n.markReady()
		return 0, nil
	}
	type result struct {
		n   int
		err error
	}
	ch := make(chan result, 1)
	n.wg.Add(1)
	n.joining.Add(1)
	go func() {
		defer n.wg.Done()
		defer n.joining.Add(-1)
		c, err := ml.Join(seeds)
		if err == nil {
			n.syncPastSuspectSeeds(ml, seeds)
			n.markReady()
		}
		ch <- result{c, err}
	}()
	select {
	case r := <-ch:
		if r.err != nil {
			return r.n, fmt.Errorf("cluster: join: %w", r.err)
		}
		return r.n, nil
	case <-ctx.Done():
		return 0, ctx.Err()
	}
}

// addSeeds records seeds for re-joining and returns them without this
// node's own address.
func (n *Node) addSeeds(seeds []string) []string {
	self := n.Addr()
	out := make([]string, 0, len(seeds))
	n.seedMu.Lock()
	defer n.seedMu.Unlock()
	for _, s := range seeds {
		if s == "" || s == self {
			continue
		}
		out = append(out, s)
		if !slices.Contains(n.seeds, s) {
			n.seeds = append(n.seeds, s)
		}
	}
	return out
}

func (n *Node) seedList() []string {
	self := n.Addr()
	n.seedMu.Lock()
	defer n.seedMu.Unlock()
	return slices.DeleteFunc(slices.Clone(n.seeds), func(s string) bool { return s == self })
}

// Leave announces that this node leaves the fleet and waits for the
// announcement to spread until ctx ends (at most DefaultLeaveTimeout, 5s).
// It waits only while some member can hear it: when no other member
// answers a ping within memberlist's ProbeTimeout (every peer already gone,
// or none ever joined), it announces and returns nil at once. Call Close
// after it.
func (n *Node) Leave(ctx context.Context) error {
	ml := n.ml.Load()
	if n.closed() || ml == nil {
		return ErrClosed
	}
	n.hasLeft.Store(true)
	timeout := DefaultLeaveTimeout
	if d, ok := ctx.Deadline(); ok {
		timeout = min(timeout, max(time.Millisecond, time.Until(d)))
	}
	if !n.anyPeerHears(ctx, ml) {
		// Nobody to tell: mark this node left without waiting for the
		// announcement (memberlist's timeout 0 would wait forever).
		_ = ml.Leave(time.Nanosecond)
		return nil
	}
	if err := ml.Leave(timeout); err != nil {
		return fmt.Errorf("cluster: leave: %w", err)
	}
	return nil
}

// Close stops memberlist and every goroutine of the node, ends its
// subscription to the Table, and returns once they have exited. It is
// idempotent, and may be called on a node never started. It does not announce a departure: call
// Leave first for a graceful exit.
func (n *Node) Close() error {
	n.closeOnce.Do(func() {
		n.startMu.Lock()
		defer n.startMu.Unlock()
		if !n.started {
			if !n.closed() {
				close(n.done)
			}
			return
		}
		n.tb.SetProbeOwner(nil)
		if ml := n.ml.Load(); ml != nil {
			if err := ml.Shutdown(); err != nil {
				n.closeErr = fmt.Errorf("cluster: shutdown: %w", err)
			}
		}
		close(n.done)
		n.wg.Wait()
		n.sub.Close()
	})
	return n.closeErr
}

func (n *Node) closed() bool {
	select {
	case <-n.done:
		return true
	default:
		return false
	}
}

// Members returns the names of the alive members, this node included,
// sorted.
func (n *Node) Members() []string {
	if n.ml.Load() == nil {
		return nil
	}
	var out []string
	for _, m := range n.view.list() {
		if m.State == memberlist.StateAlive {
			out = append(out, m.Name)
		}
	}
	slices.Sort(out)
	return out
}

// Stats returns the node's counters.
func (n *Node) Stats() Stats {
	s := n.stats.snapshot()
	n.startMu.Lock()
	if n.sub != nil {
		s.PublishDropped = n.sub.Dropped()
	}
	n.startMu.Unlock()
	s.Members = len(n.Members())
	s.Suspect = n.guard.suspect.Load()
	s.BroadcastQueue = n.queue.NumQueued()
	return s
}

func (n *Node) numNodes() int { return max(1, n.view.len()) }

// alivePeers returns the members other than this node that are alive or
// merely suspected by memberlist's failure detector (a busy node is often
// suspected; a packet to it costs little). They are the view's copies, not
// memberlist's nodes.
func (n *Node) alivePeers() []*memberlist.Node {
	if n.ml.Load() == nil {
		return nil
	}
	ms := n.view.list()
	out := ms[:0]
	for _, m := range ms {
		if (m.State == memberlist.StateAlive || m.State == memberlist.StateSuspect) && m.Name != n.name {
			out = append(out, m)
		}
	}
	return out
}
