package cluster_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/proxywhirl/retrycoord/cluster"
	"github.com/proxywhirl/retrycoord/coord"
	"github.com/proxywhirl/retrycoord/policy"
	"github.com/proxywhirl/retrycoord/state"
)

// A Go scraper becomes a full fleet member in three calls: a Table, a
// started cluster node over it (which joins its seeds), and a coordinator
// over the same Table. Nothing else is wired: the node sends the table's
// trips and merges the fleet's. Here two members run on loopback; a proxy
// that fails for one is open for the other, which then never calls it.
func ExampleStart() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	proxy := deadProxy() // a loopback proxy address that refuses connections

	member := func(name string, seeds ...string) (*coord.Coordinator, *cluster.Node) {
		tb, err := state.NewTable(state.Config{Node: name}) // 1. the table
		if err != nil {
			panic(err)
		}
		node, err := cluster.Start(ctx, cluster.Config{Table: tb, Seeds: seeds}) // 2. a started, joined node
		if err != nil {
			panic(err)
		}
		c, err := coord.New(coord.Config{Table: tb, Pool: coord.Entries(proxy), // 3. the coordinator
			Document: policy.Document{Retry: policy.RetryPolicy{MaxAttempts: 1}}})
		if err != nil {
			panic(err)
		}
		go c.Run(ctx)
		return c, node
	}
	a, nodeA := member("scraper-1")
	defer nodeA.Close()
	defer a.Close()
	b, nodeB := member("scraper-2", nodeA.Addr())
	defer nodeB.Close()
	defer b.Close()

	client := &http.Client{Transport: a.Transport(nil)}
	for range 5 { // the default FailureThreshold
		if resp, err := client.Get("http://example.com/"); err == nil {
			resp.Body.Close()
		}
	}
	fmt.Println("scraper-1:", a.Table().State(proxy))
	for b.Table().State(proxy) != state.PhaseOpen && ctx.Err() == nil {
		time.Sleep(time.Millisecond)
	}
	fmt.Println("scraper-2:", b.Table().State(proxy))
	_, err := (&http.Client{Transport: b.Transport(nil)}).Get("http://example.com/")
	fmt.Println("scraper-2 gets no upstream:", errors.Is(err, coord.ErrNoUpstream))
	// Output:
	// scraper-1: open
	// scraper-2: open
	// scraper-2 gets no upstream: true
}

// deadProxy returns "http://127.0.0.1:port" for a port nothing listens on.
func deadProxy() string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	addr := l.Addr().String()
	l.Close()
	return "http://" + addr
}
