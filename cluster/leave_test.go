package cluster

import (
	"context"
	"testing"
	"time"

	"github.com/hashicorp/memberlist"
)

// silentBase is a memberlist configuration under which memberlist itself
// never finishes a Leave: it neither probes (so a member that is gone stays
// alive in its view) nor gossips (so the announcement is never sent its
// full retransmit count). Without a check of its own, Leave waits for its
// whole timeout.
func silentBase() *memberlist.Config {
	c := fastBase()
	c.ProbeInterval = time.Hour
	c.GossipInterval = time.Hour
	c.ProbeTimeout = time.Second // long enough for a live peer's ack on a busy machine
	return c
}

// TestLeaveWithEveryPeerGone: a node whose peers were all shut down leaves
// without waiting for an announcement nobody can hear — it returns nil
// rather than running into the timeout (the shutdown of an agent whose
// fleet is gone took up to 5 s).
func TestLeaveWithEveryPeerGone(t *testing.T) {
	ms := startCluster(t, 3, clusterOpts{tweak: func(_ int, c *Config) { c.Base = silentBase() }})
	for _, m := range ms[1:] {
		_ = m.node.Close() // gone without a word: node 0 still holds them alive
	}
	if got := ms[0].node.ml.Load().NumMembers(); got != 3 {
		t.Fatalf("memberlist on node 0 counts %d members, want the 3 it cannot know are gone", got)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := ms[0].node.Leave(ctx); err != nil {
		t.Fatalf("Leave = %v, want nil: no peer could hear the announcement", err)
	}
}

// TestLeaveWaitsWhileAPeerHears: with a peer that answers, Leave still
// waits for its announcement to spread; here nothing can carry it (no
// gossip, no push/pull, no re-join whose ping answers would piggyback it),
// so Leave runs into its deadline.
func TestLeaveWaitsWhileAPeerHears(t *testing.T) {
	ms := startCluster(t, 2, clusterOpts{tweak: func(_ int, c *Config) {
		c.Base = silentBase()
		c.PushPullInterval, c.RejoinInterval = time.Hour, time.Hour
	}})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	if err := ms[0].node.Leave(ctx); err == nil {
		t.Fatal("Leave = nil, want the timeout of an announcement that could not spread to a live peer")
	}
}
