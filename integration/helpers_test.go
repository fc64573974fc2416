package integration

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/memberlist"
	"github.com/proxywhirl/retrycoord/cluster"
	"github.com/proxywhirl/retrycoord/coord"
	"github.com/proxywhirl/retrycoord/internal/testutil"
	"github.com/proxywhirl/retrycoord/policy"
	"github.com/proxywhirl/retrycoord/state"
)

func TestMain(m *testing.M) { testutil.VerifyTestMain(m) }

// Sharing says how a fleet's nodes share breaker state.
type sharing string

const (
	shareFleet sharing = "fleet" // a cluster.Node per node, joined over loopback
	shareLocal sharing = "local" // no cluster: every node's breakers are its own
)

// fleetOpts describes an in-process fleet.
type fleetOpts struct {
	size    int
	sharing sharing
	pool    []string        // proxy URLs, the same on every node
	doc     policy.Document // the policy document of every coordinator
	// fast shortens memberlist's and the cluster's intervals for tests;
	// without it the nodes run cluster's defaults (what a user runs).
	fast bool
	// site and keying go to every coordinator (coord.Config.Site, Keying).
	site   func(*http.Request) string
	keying coord.Keying
}

// fleetNode is one node of an in-process fleet.
type fleetNode struct {
	name   string
	tb     *state.Table
	node   *cluster.Node // nil with shareLocal
	c      *coord.Coordinator
	client *http.Client // through c.Transport(nil)
}

// fleet is an in-process fleet. Close stops every node; it is idempotent.
type fleet struct {
	nodes  []*fleetNode
	cancel context.CancelFunc
	runs   sync.WaitGroup
	once   sync.Once
}

// fastBase is a memberlist configuration for quick loopback tests.
func fastBase() *memberlist.Config {
	c := memberlist.DefaultLocalConfig()
	c.GossipInterval = 20 * time.Millisecond
	c.ProbeInterval = 200 * time.Millisecond
	c.ProbeTimeout = 100 * time.Millisecond
	c.SuspicionMult = 2
	c.TCPTimeout = time.Second
	return c
}

// startFleet starts o.size nodes named node-0, node-1, ...: each a table, a
// cluster node on 127.0.0.1 (port 0) joined to node-0 (shareFleet only) and
// a coordinator running with the node as its Gossip. It returns once every
// node is Ready and sees the whole membership. The fleet is closed by
// t.Cleanup (and may be closed earlier).
func startFleet(t testing.TB, o fleetOpts) *fleet {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	f := &fleet{cancel: cancel}
	t.Cleanup(f.Close)
	for i := range o.size {
		n, err := f.startNode(ctx, i, o)
		if err != nil {
			t.Fatal(err)
		}
		f.nodes = append(f.nodes, n)
	}
	if o.sharing != shareFleet {
		return f
	}
	for _, n := range f.nodes {
		select {
		case <-n.node.Ready():
		case <-time.After(10 * time.Second):
			t.Fatalf("%s: not ready within 10s", n.name)
		}
	}
	testutil.Eventually(t, 10*time.Second, "full membership", func() bool {
		for _, n := range f.nodes {
			if len(n.node.Members()) != o.size {
				return false
			}
		}
		return true
	})
	return f
}

func (f *fleet) startNode(ctx context.Context, i int, o fleetOpts) (*fleetNode, error) {
	n := &fleetNode{name: fmt.Sprintf("node-%d", i)}
	var err error
	if n.tb, err = state.NewTable(state.Config{Node: n.name, Policy: o.doc.Breaker}); err != nil {
		return nil, err
	}
	cfg := coord.Config{Table: n.tb, Document: o.doc, Pool: coord.Entries(o.pool...), Site: o.site, Keying: o.keying}
	if o.sharing == shareFleet {
		ccfg := cluster.Config{Table: n.tb}
		if i > 0 {
			ccfg.Seeds = []string{f.nodes[0].node.Addr()}
		}
		if o.fast {
			ccfg.Base, ccfg.PushPullInterval, ccfg.RejoinInterval = fastBase(), time.Second, time.Second
		}
		if n.node, err = cluster.New(ccfg); err != nil {
			return nil, err
		}
		if err = n.node.Start(); err != nil {
			return nil, err
		}
	}
	if n.c, err = coord.New(cfg); err != nil {
		if n.node != nil {
			_ = n.node.Close()
		}
		return nil, err
	}
	n.client = &http.Client{Transport: n.c.Transport(nil)}
	f.runs.Add(1)
	go func() {
		defer f.runs.Done()
		_ = n.c.Run(ctx)
	}()
	if n.node != nil && i > 0 {
		jctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		_, err := n.node.Join(jctx, nil)
		cancel()
		if err != nil {
			n.close()
			return nil, fmt.Errorf("%s: %w", n.name, err)
		}
	}
	return n, nil
}

// close stops one node: its coordinator, then its cluster node.
func (n *fleetNode) close() {
	_ = n.c.Close()
	if n.node != nil {
		_ = n.node.Close()
	}
	n.client.CloseIdleConnections()
}

// Close stops every node and waits for their goroutines.
func (f *fleet) Close() {
	f.once.Do(func() {
		f.cancel()
		for _, n := range f.nodes {
			n.close()
		}
		f.runs.Wait()
	})
}

// get sends one GET through n's Transport and reads the body. It returns the
// status, or an error when the coordinator gave up.
func (n *fleetNode) get(ctx context.Context, url string) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, err
	}
	resp, err := n.client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		return resp.StatusCode, err
	}
	if resp.StatusCode != http.StatusOK {
		return resp.StatusCode, errors.New("status " + resp.Status)
	}
	return resp.StatusCode, nil
}
