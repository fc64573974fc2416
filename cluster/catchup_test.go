package cluster

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	"github.com/proxywhirl/retrycoord/internal/testutil"
	"github.com/proxywhirl/retrycoord/state"
)

// TestFactBurstOverTheQueueReachesAnotherNode: a burst of pool facts far
// larger than the sender's subscription (most of it dropped there) reaches
// the other node at once, with push/pull an hour away: the sender catches
// up from the table, with what changed since it last saw every fact — not
// with the facts node 1 took when it joined, nor with those the sender
// took one by one before the burst.
func TestFactBurstOverTheQueueReachesAnotherNode(t *testing.T) {
	const queue, joined, oneByOne, burst = 8, 3000, 600, 200
	key := func(i int) string { return fmt.Sprintf("http://10.1.%d.%d:8080", i/250, i%250) }
	ms := startCluster(t, 2, clusterOpts{tweak: func(i int, c *Config) {
		if i == 0 {
			c.QueueSize = queue // the sender's subscription, and its inbox
			for j := range joined {
				c.Table.PutFact(state.KindPool, key(j), []byte(`{}`))
			}
		}
		c.PushPullInterval = time.Hour
	}})
	testutil.Eventually(t, 10*time.Second, "node 1 holds the facts it joined to", func() bool {
		return len(ms[1].tb.Facts(state.KindPool)) == joined
	})
	next := joined
	for next < joined+oneByOne { // in sixes, each taken by the sender before the next
		published := ms[0].node.Stats().Published
		for range 6 {
			ms[0].tb.PutFact(state.KindPool, key(next), []byte(`{}`))
			next++
		}
		testutil.Eventually(t, 10*time.Second, "six facts taken by the sender", func() bool {
			return ms[0].node.Stats().Published == published+6
		})
	}
	if d := ms[0].node.Stats().PublishDropped; d != 0 {
		t.Fatalf("%d transitions dropped before the burst", d)
	}
	for range burst {
		ms[0].tb.PutFact(state.KindPool, key(next), []byte(`{}`))
		next++
	}
	ms[0].tb.DeleteFact(state.KindPool, key(7))
	testutil.Eventually(t, 10*time.Second, "the whole burst on node 1", func() bool {
		_, present := ms[1].tb.Fact(state.KindPool, key(7))
		return len(ms[1].tb.Facts(state.KindPool)) == next-1 && !present
	})
	s := ms[0].node.Stats()
	if s.PublishDropped == 0 {
		t.Fatal("node 0's subscription dropped nothing: the case is not tested")
	}
	if s.FactsCaughtUp == 0 || s.FactsCaughtUp > 2*burst {
		t.Fatalf("FactsCaughtUp = %d, want some and at most twice the burst (%d)", s.FactsCaughtUp, burst)
	}
	if got := ms[1].node.Stats().PushPulls; got != 0 {
		t.Fatalf("node 1 merged %d periodic push/pulls: the facts may have come that way", got)
	}
}

// TestFactSeqsFollowTheNumbers: the sender's mark moves over numbers seen
// in order, waits at a gap holding those beyond it, and a catch-up moves
// it to the number read and over those held that follow.
func TestFactSeqsFollowTheNumbers(t *testing.T) {
	f := factSeqs{upTo: 10}
	f.saw(9) // before the mark: nothing
	f.saw(11)
	f.saw(13)
	f.saw(14)
	if f.upTo != 11 || f.gaps() != 2 {
		t.Fatalf("after 11, 13, 14: upTo %d, %d held; want 11, 2", f.upTo, f.gaps())
	}
	f.saw(12) // the gap closes
	if f.upTo != 14 || f.gaps() != 0 {
		t.Fatalf("after 12: upTo %d, %d held; want 14, 0", f.upTo, f.gaps())
	}
	f.saw(16)
	f.saw(18)
	f.caughtUp(16) // read up to 16: 17 is still a gap
	if f.upTo != 16 || f.gaps() != 1 {
		t.Fatalf("caught up to 16 with 16 and 18 held: upTo %d, %d held; want 16, 1", f.upTo, f.gaps())
	}
	f.caughtUp(17)
	if f.upTo != 18 || f.gaps() != 0 {
		t.Fatalf("caught up to 17 with 18 held: upTo %d, %d held; want 18, 0", f.upTo, f.gaps())
	}
	f.caughtUp(5) // an older read never moves the mark back
	if f.upTo != 18 {
		t.Fatalf("caught up to 5: upTo %d, want 18", f.upTo)
	}
}

// TestStreamMessageWaitsForRoomInTheInbox: with the inbound queue full, a
// message that fits in a packet is dropped and counted; one larger than any
// packet (it came on a stream: a burst sent reliably) waits until the
// receiver makes room, and gives up, counted, when the node closes.
func TestStreamMessageWaitsForRoomInTheInbox(t *testing.T) {
	tb, _ := state.NewTable(state.Config{Node: "solo"})
	n, err := New(Config{Table: tb, QueueSize: 1}) // not started: nothing reads the inbox but this test
	if err != nil {
		t.Fatal(err)
	}
	d := (*delegate)(n)
	waiting := make(chan struct{}, 2)
	n.inboxWait = func() { waiting <- struct{}{} }
	d.NotifyMsg([]byte("first"))                         // fills the queue
	d.NotifyMsg(bytes.Repeat([]byte{'p'}, PacketBudget)) // as large as a packet gets
	if got := n.Stats().InboxDropped; got != 1 || len(waiting) != 0 {
		t.Fatalf("InboxDropped = %d, %d waits, after a packet into a full queue; want 1, 0", got, len(waiting))
	}
	big := bytes.Repeat([]byte{'x'}, PacketBudget+1)
	delivered := make(chan struct{})
	go func() {
		d.NotifyMsg(big)
		close(delivered)
	}()
	select {
	case <-waiting:
	case <-delivered:
		t.Fatal("the stream's message did not wait for room in the full queue")
	}
	if got := <-n.inbox; string(got) != "first" {
		t.Fatalf("first message in the queue = %q", got)
	}
	<-delivered
	select {
	case got := <-n.inbox:
		if !bytes.Equal(got, big) {
			t.Fatalf("the stream's message arrived as %d bytes, want %d", len(got), len(big))
		}
	default:
		t.Fatal("the stream's message was dropped, not queued once there was room")
	}
	if got := n.Stats().InboxDropped; got != 1 {
		t.Fatalf("InboxDropped = %d, want still 1", got)
	}

	n.streamWait = time.Hour // only Close ends the next wait
	d.NotifyMsg([]byte("fills it again"))
	delivered2 := make(chan struct{})
	go func() {
		d.NotifyMsg(big)
		close(delivered2)
	}()
	<-waiting
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-delivered2:
	case <-time.After(time.Minute):
		t.Fatal("Close did not end a stream message's wait for room")
	}
	if got := n.Stats().InboxDropped; got != 2 {
		t.Fatalf("InboxDropped = %d after Close ended a waiting message, want 2", got)
	}
}
