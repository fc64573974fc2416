package coord

import (
	"fmt"
	"testing"
	"time"

	"github.com/proxywhirl/retrycoord/state"
)

// BenchmarkPoolLoad measures what a large pool costs a node to take in:
// New with n upstreams (an agent started with a pool file of n lines), a
// running coordinator applying n pool facts merged from another node at
// once (a node joining a fleet that shares a pool of n), and one upstream
// added to a pool of n and removed again (POST and DELETE /v1/pool), and
// n upstreams added to a running coordinator as one change (PATCH
// /v1/pool, retrycoord pool load).
//
//	go test -run '^$' -bench BenchmarkPoolLoad ./coord
func BenchmarkPoolLoad(b *testing.B) {
	for _, n := range []int{1000, 10000, 100000} {
		pool := benchPool(n)
		b.Run(fmt.Sprintf("new/upstreams=%d", n), func(b *testing.B) {
			for b.Loop() {
				c, err := New(Config{Pool: pool})
				if err != nil {
					b.Fatal(err)
				}
				if len(c.Upstreams()) != n {
					b.Fatalf("%d upstreams, want %d", len(c.Upstreams()), n)
				}
			}
		})
		b.Run(fmt.Sprintf("add-remove/upstreams=%d", n), func(b *testing.B) {
			c, err := New(Config{Pool: pool})
			if err != nil {
				b.Fatal(err)
			}
			for b.Loop() {
				if _, err := c.Add(PoolEntry{URL: "http://192.0.2.1:8080"}); err != nil {
					b.Fatal(err)
				}
				if !c.Remove("http://192.0.2.1:8080") {
					b.Fatal("not removed")
				}
			}
		})
		b.Run(fmt.Sprintf("update/upstreams=%d", n), func(b *testing.B) {
			for b.Loop() {
				c, err := New(Config{})
				if err != nil {
					b.Fatal(err)
				}
				run(b, c)
				if _, err := c.UpdatePool(PoolChange{Add: pool}); err != nil {
					b.Fatal(err)
				}
				_ = c.Close()
			}
		})
		b.Run(fmt.Sprintf("join/upstreams=%d", n), func(b *testing.B) {
			other, _ := state.NewTable(state.Config{Node: "other"})
			facts := make([]state.Record, n)
			for i, e := range pool {
				facts[i] = other.PutFact(state.KindPool, e.URL, []byte(`{"url":"`+e.URL+`"}`))
			}
			for b.Loop() {
				c, err := New(Config{})
				if err != nil {
					b.Fatal(err)
				}
				run(b, c)
				for _, f := range facts {
					c.Table().Merge(f, state.SourceGossip)
				}
				for len(c.Upstreams()) != n {
					time.Sleep(time.Millisecond)
				}
				_ = c.Close()
			}
		})
	}
}
