//go:build compose

package integration

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/proxywhirl/retrycoord/coord/api"
)

// TestComposePoolLoadSpreads: 20,000 upstreams sent to node 1 as one change
// (PATCH /v1/pool, what `retrycoord pool load` sends) are in every node's
// pool within seconds, and removed the same way leave every node with the
// pool it had before. The new upstreams are in a range nothing answers on
// and no traffic goes to them.
func TestComposePoolLoadSpreads(t *testing.T) {
	s := suite(t)
	poolOf := func(n string) ([]string, error) {
		us, err := s.api(t, n).Pool(t.Context())
		keys := make([]string, len(us))
		for i, u := range us {
			keys[i] = u.Upstream
		}
		slices.Sort(keys)
		return keys, err
	}
	before := map[string][]string{}
	for _, node := range nodes {
		keys, err := poolOf(node)
		if err != nil {
			t.Fatal(err)
		}
		before[node] = keys
	}
	const n = 20_000
	req := api.PoolUpdateRequest{Add: make([]api.AddRequest, n)}
	keys := make([]string, n)
	for i := range n {
		host := fmt.Sprintf("198.18.%d.%d:8080", i/250, i%250)
		req.Add[i] = api.AddRequest{URL: fmt.Sprintf("http://u%d:pw%d@%s", i, i, host), Meta: map[string]string{"batch": "compose"}}
		keys[i] = "http://" + host
	}
	// Whatever happens below, the fleet gets its pool back.
	removed := false
	t.Cleanup(func() {
		if !removed {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			_, _ = s.api(t, "node-1").UpdatePool(ctx, api.PoolUpdateRequest{Remove: keys})
		}
	})
	every := func(more int) func() (bool, string) {
		return func() (bool, string) {
			var saw []string
			for _, node := range nodes {
				got, err := poolOf(node)
				if err != nil || len(got) != len(before[node])+more {
					saw = append(saw, fmt.Sprintf("%s: %d upstreams %v", node, len(got), err))
				}
			}
			return len(saw) == 0, strings.Join(saw, "; ")
		}
	}

	start := time.Now()
	done, err := s.api(t, "node-1").UpdatePool(t.Context(), req)
	if err != nil {
		t.Fatal(err)
	}
	answered := time.Since(start)
	if done.Added != n {
		t.Fatalf("node-1 answered %+v, want %d added", done, n)
	}
	took := waitFor(t, 60*time.Second, 100*time.Millisecond, "every node holds the 20,000", every(n))
	t.Logf("node-1 answered the change in %v; every node held the 20,000 %v later",
		answered.Round(time.Millisecond), took.Round(time.Millisecond))

	done, err = s.api(t, "node-1").UpdatePool(t.Context(), api.PoolUpdateRequest{Remove: keys})
	if err != nil {
		t.Fatal(err)
	}
	removed = true
	if done.Removed != n {
		t.Fatalf("node-1 answered %+v, want %d removed", done, n)
	}
	waitFor(t, 60*time.Second, 100*time.Millisecond, "every node back to its pool", every(0))
	for _, node := range nodes {
		got, err := poolOf(node)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got, before[node]) {
			t.Fatalf("%s's pool after the removal: %v, want %v", node, got, before[node])
		}
	}
}
