package cluster

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-sockaddr"
	"github.com/hashicorp/memberlist"
)

// udpRecvBuf is the UDP receive buffer asked of the kernel (memberlist's
// own transport asks for the same): a fan-out to every member arrives at
// each one as a burst from many senders at once.
const udpRecvBuf = 2 << 20

// maxPacket is the largest UDP datagram read.
const maxPacket = 65536

// netTransport is the node's default memberlist transport: UDP packets and
// TCP streams on one port, as memberlist's NetTransport, except that a
// received packet is copied out of one reused read buffer into a slice of
// its own length. memberlist's transport allocates 64 KiB per packet
// received, which was 92% of all the bytes a loopback fleet allocated and
// made the garbage collector a source of propagation tail latency. Sends
// parse the address without resolving it (memberlist's addresses are
// always IP:port) and so allocate nothing either. It is safe for
// concurrent use.
type netTransport struct {
	tcp      *net.TCPListener
	udp      *net.UDPConn
	bindAll  bool // bound to the unspecified address: advertise a private IP
	packetCh chan *memberlist.Packet
	streamCh chan net.Conn
	done     chan struct{}
	shut     atomic.Bool
	once     sync.Once
	wg       sync.WaitGroup
	sent     *atomic.Uint64 // bytes written, packets and streams; nil: not counted
	read     atomic.Uint64  // packets read from the socket
}

var _ memberlist.NodeAwareTransport = (*netTransport)(nil)

// newNetTransport listens on addr:port (TCP first; port 0 picks a free one,
// then UDP on the same port) and starts the two listener goroutines. It
// adds the bytes it writes to sent unless sent is nil.
func newNetTransport(addr string, port int, sent *atomic.Uint64) (*netTransport, error) {
	ip := net.ParseIP(addr)
	if ip == nil {
		return nil, fmt.Errorf("cluster: bind address %q is not an IP address", addr)
	}
	tcp, err := net.ListenTCP("tcp", &net.TCPAddr{IP: ip, Port: port})
	if err != nil {
		return nil, fmt.Errorf("cluster: listen tcp: %w", err)
	}
	port = tcp.Addr().(*net.TCPAddr).Port
	udp, err := net.ListenUDP("udp", &net.UDPAddr{IP: ip, Port: port})
	if err != nil {
		_ = tcp.Close()
		return nil, fmt.Errorf("cluster: listen udp: %w", err)
	}
	_ = udp.SetReadBuffer(udpRecvBuf) // best effort: the kernel may cap it
	t := &netTransport{
		tcp:      tcp,
		udp:      udp,
		bindAll:  ip.IsUnspecified(),
		packetCh: make(chan *memberlist.Packet),
		streamCh: make(chan net.Conn),
		done:     make(chan struct{}),
		sent:     sent,
	}
	t.wg.Add(2)
	go t.tcpLoop()
	go t.udpLoop()
	return t, nil
}

// FinalAdvertiseAddr returns ip:port when ip is set, else the bound
// address (a private IP when bound to all addresses) and port.
func (t *netTransport) FinalAdvertiseAddr(ip string, port int) (net.IP, int, error) {
	if ip != "" {
		a := net.ParseIP(ip)
		if a == nil {
			return nil, 0, fmt.Errorf("cluster: advertise address %q is not an IP address", ip)
		}
		if a4 := a.To4(); a4 != nil {
			a = a4
		}
		return a, port, nil
	}
	bound := t.tcp.Addr().(*net.TCPAddr)
	if !t.bindAll {
		return bound.IP, bound.Port, nil
	}
	priv, err := sockaddr.GetPrivateIP()
	if err != nil {
		return nil, 0, fmt.Errorf("cluster: find a private address to advertise: %w", err)
	}
	if priv == "" {
		return nil, 0, errors.New("cluster: no private address to advertise; set AdvertiseAddr")
	}
	return net.ParseIP(priv), bound.Port, nil
}

// port returns the bound port.
func (t *netTransport) port() int { return t.tcp.Addr().(*net.TCPAddr).Port }

func (t *netTransport) WriteTo(b []byte, addr string) (time.Time, error) {
	return t.WriteToAddress(b, memberlist.Address{Addr: addr})
}

func (t *netTransport) WriteToAddress(b []byte, a memberlist.Address) (time.Time, error) {
	ap, err := netip.ParseAddrPort(a.Addr)
	if err != nil {
		ua, rerr := net.ResolveUDPAddr("udp", a.Addr)
		if rerr != nil {
			return time.Time{}, rerr
		}
		ap = ua.AddrPort()
	}
	ap = netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
	k, err := t.udp.WriteToUDPAddrPort(b, ap)
	if t.sent != nil {
		t.sent.Add(uint64(k))
	}
	return time.Now(), err
}

func (t *netTransport) PacketCh() <-chan *memberlist.Packet { return t.packetCh }

func (t *netTransport) DialTimeout(addr string, timeout time.Duration) (net.Conn, error) {
	return t.DialAddressTimeout(memberlist.Address{Addr: addr}, timeout)
}

func (t *netTransport) DialAddressTimeout(a memberlist.Address, timeout time.Duration) (net.Conn, error) {
	d := net.Dialer{Timeout: timeout}
	c, err := d.Dial("tcp", a.Addr)
	if err != nil || t.sent == nil {
		return c, err
	}
	return countingConn{c, t.sent}, nil
}

func (t *netTransport) StreamCh() <-chan net.Conn { return t.streamCh }

// Shutdown closes both listeners and waits for their goroutines; it is
// idempotent.
func (t *netTransport) Shutdown() error {
	t.once.Do(func() {
		t.shut.Store(true)
		close(t.done)
		_ = t.tcp.Close()
		_ = t.udp.Close()
	})
	t.wg.Wait()
	return nil
}

func (t *netTransport) tcpLoop() {
	defer t.wg.Done()
	backoff := time.Duration(0)
	for {
		conn, err := t.tcp.AcceptTCP()
		if err != nil {
			if t.shut.Load() {
				return
			}
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			select {
			case <-t.done:
				return
			case <-time.After(backoff):
			}
			continue
		}
		backoff = 0
		var c net.Conn = conn
		if t.sent != nil {
			c = countingConn{conn, t.sent}
		}
		select {
		case t.streamCh <- c:
		case <-t.done:
			_ = conn.Close()
			return
		}
	}
}

func (t *netTransport) udpLoop() {
	defer t.wg.Done()
	buf := make([]byte, maxPacket)
	for {
		n, from, err := t.udp.ReadFromUDPAddrPort(buf)
		ts := time.Now()
		if err != nil {
			if t.shut.Load() {
				return
			}
			continue
		}
		if n < 1 {
			continue
		}
		t.read.Add(1)
		from = netip.AddrPortFrom(from.Addr().Unmap(), from.Port())
		p := &memberlist.Packet{
			Buf:       append(make([]byte, 0, n), buf[:n]...),
			From:      net.UDPAddrFromAddrPort(from),
			Timestamp: ts,
		}
		select {
		case t.packetCh <- p:
		case <-t.done:
			return
		}
	}
}
