package faultnet

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/memberlist"
)

// Fault is what a link does to packets: drop each with probability Drop
// (0–1) and deliver the others after Delay.
type Fault struct {
	Drop  float64
	Delay time.Duration
}

// Network connects Transports. The zero Network is ready to use.
type Network struct {
	mu        sync.Mutex            // guards the fields below
	byAddr    map[string]*Transport // open transports
	port      int                   // last port handed out
	fault     Fault                 // every link without its own
	links     map[[2]string]Fault   // by (from name, to name)
	partition map[string]string     // node name → partition name ("" none)
	deaf      map[string]bool       // node names that hear nothing (Deafen)

	dropped   atomic.Uint64
	delivered atomic.Uint64
}

// ErrUnreachable is returned by a dial to an unknown, closed, partitioned
// or deaf address, or from a deaf node.
var ErrUnreachable = errors.New("faultnet: unreachable")

// NewTransport returns a transport for the named node with a fresh address
// of the form 127.0.0.1:port (never bound: nothing leaves the process).
func (n *Network) NewTransport(name string) *Transport {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.byAddr == nil {
		n.byAddr = make(map[string]*Transport)
		n.port = 20000
	}
	n.port++
	t := &Transport{
		net:      n,
		name:     name,
		addr:     addr("127.0.0.1:" + strconv.Itoa(n.port)),
		port:     n.port,
		packetCh: make(chan *memberlist.Packet, 4096),
		streamCh: make(chan net.Conn, 64),
		done:     make(chan struct{}),
	}
	n.byAddr[string(t.addr)] = t
	return t
}

// SetFault sets the fault of every link that has none of its own.
func (n *Network) SetFault(f Fault) {
	n.mu.Lock()
	n.fault = f
	n.mu.Unlock()
}

// SetLinkFault sets the fault of the link from one node to another (by
// name), in that direction only.
func (n *Network) SetLinkFault(from, to string, f Fault) {
	n.mu.Lock()
	if n.links == nil {
		n.links = make(map[[2]string]Fault)
	}
	n.links[[2]string{from, to}] = f
	n.mu.Unlock()
}

// Partition puts the named nodes in the partition called name. Nodes in
// different partitions (no partition counts as one of its own, "") cannot
// reach each other.
func (n *Network) Partition(name string, nodes ...string) {
	n.mu.Lock()
	if n.partition == nil {
		n.partition = make(map[string]string)
	}
	for _, node := range nodes {
		n.partition[node] = name
	}
	n.mu.Unlock()
}

// Deafen makes the named nodes hear nothing until Heal: packets to them are
// dropped and streams to or from them refused (a stream carries both ways),
// while the packets they send still arrive. A test uses it to let nodes act
// on what they hold without learning what the others do meanwhile.
func (n *Network) Deafen(nodes ...string) {
	n.mu.Lock()
	if n.deaf == nil {
		n.deaf = make(map[string]bool)
	}
	for _, node := range nodes {
		n.deaf[node] = true
	}
	n.mu.Unlock()
}

// Heal removes every partition, every deafness and every fault.
func (n *Network) Heal() {
	n.mu.Lock()
	n.partition, n.deaf, n.links, n.fault = nil, nil, nil, Fault{}
	n.mu.Unlock()
}

// Dropped returns how many packets were dropped (loss, partitions, closed
// or full destinations).
func (n *Network) Dropped() uint64 { return n.dropped.Load() }

// Delivered returns how many packets reached a destination's channel.
func (n *Network) Delivered() uint64 { return n.delivered.Load() }

// route returns the destination of a packet (stream false) or a stream
// from t and the link's fault, or false when it cannot be reached.
func (n *Network) route(from *Transport, to string, stream bool) (*Transport, Fault, bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	dst := n.byAddr[to]
	if dst == nil || n.partition[from.name] != n.partition[dst.name] || n.deaf[dst.name] || stream && n.deaf[from.name] {
		return nil, Fault{}, false
	}
	f, ok := n.links[[2]string{from.name, dst.name}]
	if !ok {
		f = n.fault
	}
	return dst, f, true
}

func (n *Network) remove(t *Transport) {
	n.mu.Lock()
	if n.byAddr[string(t.addr)] == t {
		delete(n.byAddr, string(t.addr))
	}
	n.mu.Unlock()
}

// addr is a net.Addr of the form "host:port".
type addr string

func (a addr) Network() string { return "faultnet" }
func (a addr) String() string  { return string(a) }

// Transport is one node's end of a Network: a memberlist.Transport.
type Transport struct {
	net      *Network
	name     string
	addr     addr
	port     int
	packetCh chan *memberlist.Packet
	streamCh chan net.Conn
	done     chan struct{}
	once     sync.Once
}

var _ memberlist.Transport = (*Transport)(nil)

// Addr returns the transport's "host:port" address, for seeds.
func (t *Transport) Addr() string { return string(t.addr) }

// FinalAdvertiseAddr returns the transport's own address.
func (t *Transport) FinalAdvertiseAddr(string, int) (net.IP, int, error) {
	return net.IPv4(127, 0, 0, 1), t.port, nil
}

// WriteTo sends a packet. It never blocks: what cannot be delivered is
// dropped, as UDP would.
func (t *Transport) WriteTo(b []byte, to string) (time.Time, error) {
	now := time.Now()
	select {
	case <-t.done:
		return now, errors.New("faultnet: transport shut down")
	default:
	}
	dst, f, ok := t.net.route(t, to, false)
	if !ok || (f.Drop > 0 && rand.Float64() < f.Drop) {
		t.net.dropped.Add(1)
		return now, nil
	}
	p := &memberlist.Packet{Buf: append([]byte(nil), b...), From: t.addr, Timestamp: now}
	if f.Delay <= 0 {
		dst.deliver(p)
	} else {
		time.AfterFunc(f.Delay, func() {
			p.Timestamp = time.Now()
			dst.deliver(p)
		})
	}
	return now, nil
}

func (t *Transport) deliver(p *memberlist.Packet) {
	select {
	case <-t.done:
		t.net.dropped.Add(1)
		return
	default:
	}
	select {
	case t.packetCh <- p:
		t.net.delivered.Add(1)
	default:
		t.net.dropped.Add(1)
	}
}

// PacketCh delivers incoming packets.
func (t *Transport) PacketCh() <-chan *memberlist.Packet { return t.packetCh }

// DialTimeout opens an in-memory stream to a reachable transport.
func (t *Transport) DialTimeout(to string, timeout time.Duration) (net.Conn, error) {
	dst, _, ok := t.net.route(t, to, true)
	if !ok {
		return nil, fmt.Errorf("dial %s: %w", to, ErrUnreachable)
	}
	local, remote := net.Pipe()
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case dst.streamCh <- remote:
		return local, nil
	case <-dst.done:
	case <-t.done:
	case <-timer.C:
	}
	local.Close()
	remote.Close()
	return nil, fmt.Errorf("dial %s: %w", to, ErrUnreachable)
}

// StreamCh delivers incoming streams.
func (t *Transport) StreamCh() <-chan net.Conn { return t.streamCh }

// Shutdown detaches the transport from its network. Senders to it never
// block: their packets are dropped and their dials fail. It is idempotent.
func (t *Transport) Shutdown() error {
	t.once.Do(func() {
		t.net.remove(t)
		close(t.done)
	})
	return nil
}
