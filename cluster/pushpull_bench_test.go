package cluster

import (
	"fmt"
	"testing"
	"time"

	"github.com/proxywhirl/retrycoord/state"
)

// BenchmarkPushPullState measures the state a node sends in one push/pull
// exchange when the fleet shares a pool of n entries as facts (added
// through the API): periodic exchanges carry the facts within the budget,
// in turns; a join's carries them all.
//
//	go test -run '^$' -bench BenchmarkPushPullState ./cluster
func BenchmarkPushPullState(b *testing.B) {
	for _, n := range []int{1000, 100000} {
		tb, err := state.NewTable(state.Config{Node: "node-1"})
		if err != nil {
			b.Fatal(err)
		}
		hourAgo := time.Now().Add(-time.Hour)
		other, _ := state.NewTable(state.Config{Node: "node-2", Now: func() time.Time { return hourAgo }})
		for i := range n {
			u := fmt.Sprintf("http://10.%d.%d.%d:8080", i>>16, (i>>8)&255, i&255)
			tb.Merge(other.PutFact(state.KindPool, u, []byte(`{"url":"`+u+`","meta":{"region":"eu"}}`)), state.SourceGossip)
		}
		node, err := New(Config{Table: tb})
		if err != nil {
			b.Fatal(err)
		}
		for _, join := range []bool{false, true} {
			name := "periodic"
			if join {
				name = "join"
			}
			b.Run(fmt.Sprintf("facts=%d/%s", n, name), func(b *testing.B) {
				var size int
				for b.Loop() {
					size = len((*delegate)(node).LocalState(join))
				}
				b.ReportMetric(float64(size), "bytes")
			})
		}
		_ = node.Close()
	}
}
