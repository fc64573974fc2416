package cluster

import (
	"bytes"
	"testing"
	"time"

	"github.com/proxywhirl/retrycoord/internal/testutil"
)

// TestNetTransportPacketOwnsItsLength pins what the transport exists for: a
// received packet is its own slice of exactly its length (memberlist's
// transport hands out 64 KiB per packet), it comes from the sender's
// address, and the read buffer is not shared between packets.
func TestNetTransportPacketOwnsItsLength(t *testing.T) {
	a, err := newNetTransport("127.0.0.1", 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Shutdown()
	b, err := newNetTransport("127.0.0.1", 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Shutdown()
	bIP, bPort, err := b.FinalAdvertiseAddr("", 0)
	if err != nil {
		t.Fatal(err)
	}
	if bPort != b.port() || !bIP.IsLoopback() {
		t.Fatalf("advertised %v:%d, want 127.0.0.1:%d", bIP, bPort, b.port())
	}
	to := b.tcp.Addr().String()
	first, second := []byte("first packet"), []byte("2nd")
	for _, p := range [][]byte{first, second} {
		if _, err := a.WriteTo(p, to); err != nil {
			t.Fatal(err)
		}
	}
	var got [][]byte
	for range 2 {
		select {
		case p := <-b.PacketCh():
			if p.From.String() != a.tcp.Addr().String() {
				t.Errorf("from %v, want %v", p.From, a.tcp.Addr())
			}
			got = append(got, p.Buf)
		case <-time.After(5 * time.Second): // loopback UDP: a bound, not a timing assertion
			t.Fatal("no packet within 5s")
		}
	}
	for i, want := range [][]byte{first, second} {
		if !bytes.Equal(got[i], want) {
			t.Errorf("packet %d is %q, want %q", i, got[i], want)
		}
		if cap(got[i]) != len(want) {
			t.Errorf("packet %d has cap %d, want %d (its own length)", i, cap(got[i]), len(want))
		}
	}
}

// TestNetTransportShutdownUnblocks checks that Shutdown returns while the
// listener holds a packet no one will take from PacketCh (goleak checks the
// goroutines ended).
func TestNetTransportShutdownUnblocks(t *testing.T) {
	a, err := newNetTransport("127.0.0.1", 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.WriteTo([]byte("x"), a.tcp.Addr().String()); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 5*time.Second, "the packet read", func() bool { return a.read.Load() == 1 })
	if err := a.Shutdown(); err != nil {
		t.Fatal(err)
	}
	if err := a.Shutdown(); err != nil {
		t.Fatalf("second Shutdown: %v", err)
	}
}
