package faultnet

import (
	"errors"
	"testing"
	"time"
)

func TestFaults(t *testing.T) {
	var n Network
	a, b := n.NewTransport("a"), n.NewTransport("b")
	defer a.Shutdown()

	if _, err := a.WriteTo([]byte("hi"), b.Addr()); err != nil {
		t.Fatal(err)
	}
	if p := <-b.PacketCh(); string(p.Buf) != "hi" || p.From.String() != a.Addr() {
		t.Errorf("got %q from %v, want hi from %s", p.Buf, p.From, a.Addr())
	}

	n.SetLinkFault("a", "b", Fault{Drop: 1})
	a.WriteTo([]byte("lost"), b.Addr())
	if n.Dropped() != 1 {
		t.Errorf("Dropped = %d, want 1", n.Dropped())
	}

	n.Heal()
	n.SetFault(Fault{Delay: 5 * time.Millisecond})
	a.WriteTo([]byte("late"), b.Addr())
	if p := <-b.PacketCh(); string(p.Buf) != "late" {
		t.Errorf("got %q, want late", p.Buf)
	}

	n.Partition("left", "a")
	if _, err := a.DialTimeout(b.Addr(), time.Second); !errors.Is(err, ErrUnreachable) {
		t.Errorf("dial across a partition: %v, want ErrUnreachable", err)
	}
	n.Heal()
	go func() {
		c := <-b.StreamCh()
		c.Write([]byte("x"))
		c.Close()
	}()
	c, err := a.DialTimeout(b.Addr(), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 1)
	if _, err := c.Read(buf); err != nil || buf[0] != 'x' {
		t.Errorf("read %q, %v", buf, err)
	}
	c.Close()

	// After shutdown nothing blocks: writes drop, dials fail.
	b.Shutdown()
	b.Shutdown()
	for range 10_000 {
		a.WriteTo([]byte("x"), b.Addr())
	}
	if _, err := a.DialTimeout(b.Addr(), time.Second); !errors.Is(err, ErrUnreachable) {
		t.Errorf("dial to a closed transport: %v, want ErrUnreachable", err)
	}
}

func TestDeafen(t *testing.T) {
	var n Network
	a, b := n.NewTransport("a"), n.NewTransport("b")
	defer a.Shutdown()
	defer b.Shutdown()

	n.Deafen("b")
	a.WriteTo([]byte("unheard"), b.Addr())
	if n.Dropped() != 1 || len(b.PacketCh()) != 0 {
		t.Errorf("a packet to a deaf node: dropped %d, queued %d; want 1, 0", n.Dropped(), len(b.PacketCh()))
	}
	b.WriteTo([]byte("spoken"), a.Addr())
	if p := <-a.PacketCh(); string(p.Buf) != "spoken" {
		t.Errorf("from a deaf node got %q, want spoken", p.Buf)
	}
	if _, err := a.DialTimeout(b.Addr(), time.Second); !errors.Is(err, ErrUnreachable) {
		t.Errorf("dial to a deaf node: %v, want ErrUnreachable", err)
	}
	if _, err := b.DialTimeout(a.Addr(), time.Second); !errors.Is(err, ErrUnreachable) {
		t.Errorf("dial from a deaf node: %v, want ErrUnreachable", err)
	}

	n.Heal()
	a.WriteTo([]byte("heard"), b.Addr())
	if p := <-b.PacketCh(); string(p.Buf) != "heard" {
		t.Errorf("after Heal got %q, want heard", p.Buf)
	}
}
