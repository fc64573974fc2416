package redisledger_test

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/proxywhirl/retrycoord/state"
	"github.com/proxywhirl/retrycoord/state/redisledger"
)

// A bad URL is an error, and the error never shows the password.
func ExampleNew() {
	tb, _ := state.NewTable(state.Config{Node: "node-1"})
	_, err := redisledger.New(redisledger.Config{URL: "redis://:s3cret@127.0.0.1:6379/s3cret", Table: tb})
	fmt.Println(err)
	// Output: redisledger: invalid URL: redis: invalid database number: "xxxxx"
}

// The wiring of a node. This example needs a Redis server, so it is
// compiled but not run (it has no Output comment).
func Example() {
	ctx := context.Background()
	tb, _ := state.NewTable(state.Config{Node: "node-1"})
	l, err := redisledger.New(redisledger.Config{URL: "redis://127.0.0.1:6379/0", Table: tb})
	if err != nil {
		panic(err)
	}
	defer l.Close()
	if _, err := l.Snapshot(ctx); err != nil { // before the node reports ready
		slog.Warn("starting without the ledger", "err", err) // degraded: Run reconciles later
	}
	go l.Run(ctx)

	// The ledger writes the table's local and manual changes itself.
	tb.Trip("http://10.0.0.1:8080", 0, "seen failing")
}
