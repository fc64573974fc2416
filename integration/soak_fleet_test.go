package integration

import (
	"context"
	"fmt"
	"time"

	"github.com/hashicorp/memberlist"
	"github.com/proxywhirl/retrycoord/cluster"
	"github.com/proxywhirl/retrycoord/cluster/faultnet"
	"github.com/proxywhirl/retrycoord/policy"
	"github.com/proxywhirl/retrycoord/state"
)

// The soak's fleet: seven nodes, each a state.Table and a cluster.Node on a
// faultnet transport, with the loop a coordinator runs (publish every local
// or manual transition; apply the policy fact to the table). No coordinator
// and no HTTP: trips, resets and probes are driven on the tables directly,
// which is what the agent's API does.

// soakPolicy is the breaker policy of the soak: short open times so that
// probes happen many times a minute.
func soakPolicy(threshold int) policy.BreakerPolicy {
	return policy.BreakerPolicy{
		FailureThreshold: threshold,
		Window:           10 * time.Second,
		OpenTimeout:      time.Second,
		OpenBackoff:      1,
		MaxOpenTimeout:   time.Second,
		ProbeLease:       time.Second,
		ProbeGrace:       time.Second,
	}.WithDefaults()
}

// soakBase is memberlist's timing for the soak: fast loopback intervals,
// and a dead node's name reclaimable at once so that a restarted node (same
// name, new address) is taken back.
func soakBase() *memberlist.Config {
	c := fastBase()
	c.GossipToTheDeadTime = 500 * time.Millisecond
	c.DeadNodeReclaimTime = time.Millisecond
	return c
}

// soakNode is one incarnation of a named node. A restart replaces it.
type soakNode struct {
	name   string
	skew   time.Duration // added to time.Now for this node's table
	tb     *state.Table
	node   *cluster.Node
	tr     *faultnet.Transport
	sub    *state.Subscription
	done   chan struct{} // closed when the policy loop has exited
	closed bool
}

// startSoakNode starts a fresh table and cluster node named name on fn with
// the given clock skew; seeds are the addresses it re-joins. It does not
// join: the caller does.
func startSoakNode(fn *faultnet.Network, name string, skew time.Duration, threshold int, seeds []string) (*soakNode, error) {
	n := &soakNode{name: name, skew: skew, done: make(chan struct{})}
	now := func() time.Time { return time.Now().Add(skew) }
	var err error
	if n.tb, err = state.NewTable(state.Config{Node: name, Policy: soakPolicy(threshold), Now: now}); err != nil {
		return nil, err
	}
	n.tr = fn.NewTransport(name)
	n.node, err = cluster.New(cluster.Config{
		Table:            n.tb,
		Transport:        n.tr,
		Base:             soakBase(),
		Seeds:            seeds,
		PushPullInterval: time.Second,
		RejoinInterval:   time.Second,
		QueueSize:        8192,
	})
	if err == nil {
		err = n.node.Start()
	}
	if err != nil {
		_ = n.tr.Shutdown()
		return nil, err
	}
	n.sub = n.tb.Subscribe(8192)
	go n.policyLoop()
	return n, nil
}

// policyLoop is what coord.Coordinator.Run does with a policy fact: put it
// in force. (The node sends the table's changes itself.)
func (n *soakNode) policyLoop() {
	defer close(n.done)
	for tr := range n.sub.C {
		if tr.Record.Kind == state.KindPolicy && !tr.Record.Deleted {
			if doc, err := policy.ParseDocument(tr.Record.Value); err == nil {
				_ = n.tb.SetPolicy(doc.Breaker)
			}
		}
	}
}

// join joins seed and waits for the answer (bounded).
func (n *soakNode) join(seed string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	if _, err := n.node.Join(ctx, []string{seed}); err != nil {
		return fmt.Errorf("%s: join %s: %w", n.name, seed, err)
	}
	return nil
}

// ready reports whether the node has had its first sync.
func (n *soakNode) ready() bool {
	select {
	case <-n.node.Ready():
		return true
	default:
		return false
	}
}

// close stops the node; graceful announces the departure first (bounded).
// It returns an error when cluster.Node.Close has not returned within
// closeBound (the node's goroutines are then left behind). It is
// idempotent.
func (n *soakNode) close(graceful bool) error {
	if n.closed {
		return nil
	}
	n.closed = true
	if graceful {
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		_ = n.node.Leave(ctx)
		cancel()
	}
	closed := make(chan struct{})
	go func() {
		_ = n.node.Close()
		close(closed)
	}()
	var err error
	select {
	case <-closed:
	case <-time.After(closeBound):
		err = fmt.Errorf("%s: cluster.Node.Close has not returned after %v", n.name, closeBound)
	}
	n.sub.Close()
	<-n.done
	return err
}

// closeBound is how long close waits for cluster.Node.Close.
const closeBound = 10 * time.Second
