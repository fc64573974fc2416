package cluster_test

import (
	"context"
	"fmt"
	"time"

	"github.com/proxywhirl/retrycoord/cluster"
	"github.com/proxywhirl/retrycoord/state"
)

// Two nodes on loopback: a trip on one table is open on the other.
func Example() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	start := func(name string, seeds []string) (*state.Table, *cluster.Node) {
		tb, _ := state.NewTable(state.Config{Node: name})
		n, err := cluster.Start(ctx, cluster.Config{Table: tb, Seeds: seeds})
		if err != nil {
			panic(err)
		}
		return tb, n
	}
	tbA, a := start("node-a", nil)
	defer a.Close()
	tbB, b := start("node-b", []string{a.Addr()})
	defer b.Close()

	tbA.Trip("http://10.0.0.1:8080", time.Minute, "demo")

	for tbB.State("http://10.0.0.1:8080") != state.PhaseOpen && ctx.Err() == nil {
		time.Sleep(time.Millisecond)
	}
	fmt.Println("node-b sees", tbB.State("http://10.0.0.1:8080"))
	fmt.Println("members:", b.Members())
	// Output:
	// node-b sees open
	// members: [node-a node-b]
}
