package state_test

import (
	"errors"
	"fmt"
	"time"

	"github.com/proxywhirl/retrycoord/state"
)

// A breaker opens after five failures within a minute, rejects calls for 30
// seconds, then lets exactly one probe through; the probe's success closes it.
func Example() {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	tb, err := state.NewTable(state.Config{Node: "node-1", Now: func() time.Time { return now }})
	if err != nil {
		panic(err)
	}
	sub := tb.Subscribe(10)
	const proxy = "http://10.0.0.1:8080"

	for range 5 {
		tk, _ := tb.Admit(proxy)
		tb.Settle(tk, state.OutcomeFailure, 0)
	}
	_, err = tb.Admit(proxy)
	fmt.Println("after 5 failures:", tb.State(proxy), errors.Is(err, state.ErrOpen))

	now = now.Add(30 * time.Second)
	probe, _ := tb.Admit(proxy)
	_, err = tb.Admit(proxy)
	fmt.Println("after 30s:", tb.State(proxy), "probe:", probe.Probe(), "second call rejected:", errors.Is(err, state.ErrOpen))

	tb.Settle(probe, state.OutcomeSuccess, 20*time.Millisecond)
	fmt.Println("after the probe:", tb.State(proxy))

	for range 3 {
		tr := <-sub.C
		fmt.Printf("%s -> %s (gen %d, %s)\n", tr.From, tr.Record.Phase, tr.Record.Gen, tr.Record.Reason)
	}
	// Output:
	// after 5 failures: open true
	// after 30s: half-open probe: true second call rejected: true
	// after the probe: closed
	// closed -> open (gen 1, failure threshold reached)
	// open -> half-open (gen 1, open time elapsed)
	// half-open -> closed (gen 1, probe succeeded)
}
