package coord

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/proxywhirl/retrycoord/internal/testproxy"
	"github.com/proxywhirl/retrycoord/policy"
)

// feed records n outcomes on u, the first ok of them successes, each with
// latency lat.
func feed(u *Upstream, n, ok int, lat time.Duration) {
	for i := range n {
		u.stats.record(i < ok, lat, 100)
	}
}

func newTestCoord(t *testing.T, sp policy.SelectPolicy, entries ...PoolEntry) *Coordinator {
	t.Helper()
	c, err := New(Config{Pool: entries, Document: policy.Document{Select: sp}})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func (c *Coordinator) pickFor(region string) *Upstream {
	sp := c.pol.Load().sel
	return c.sel.pick(c.pool.load().list, &sp, region, "", nil, time.Now().UnixNano())
}

func TestBestScores(t *testing.T) {
	best := policy.SelectPolicy{Strategy: policy.StrategyBest}
	tests := []struct {
		name   string
		region string
		setup  func(a, b *Upstream)
		want   string // "a" or "b"
	}{
		{"95% beats 60%", "", func(a, b *Upstream) {
			feed(a, 100, 60, 100*time.Millisecond)
			feed(b, 100, 95, 100*time.Millisecond)
		}, "b"},
		{"0.5s beats 2.0s at equal success", "", func(a, b *Upstream) {
			feed(a, 100, 90, 2*time.Second)
			feed(b, 100, 90, 500*time.Millisecond)
		}, "b"},
		{"US-EAST 75% beats EU-WEST 80% for US-EAST", "US-EAST", func(a, b *Upstream) {
			feed(a, 100, 80, time.Second) // EU-WEST
			feed(b, 100, 75, time.Second) // US-EAST
		}, "b"},
		{"EU-WEST 80% beats US-EAST 75% without a region", "", func(a, b *Upstream) {
			feed(a, 100, 80, time.Second)
			feed(b, 100, 75, time.Second)
		}, "a"},
		{"no history is tried", "", func(a, b *Upstream) {
			feed(a, 100, 99, time.Millisecond)
		}, "b"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newTestCoord(t, best,
				PoolEntry{URL: "http://a.example:1", Meta: map[string]string{"region": "EU-WEST"}},
				PoolEntry{URL: "http://b.example:1", Meta: map[string]string{"region": "US-EAST"}})
			a, b := c.Upstream("http://a.example:1"), c.Upstream("http://b.example:1")
			tt.setup(a, b)
			want := map[string]*Upstream{"a": a, "b": b}[tt.want]
			for range 10 {
				if got := c.pickFor(tt.region); got != want {
					t.Fatalf("picked %v, want %v", got, want)
				}
			}
		})
	}
}

func TestStrategiesSkipOpenAndTried(t *testing.T) {
	for _, s := range []policy.Strategy{policy.StrategyP2C, policy.StrategyBest, policy.StrategyRoundRobin, policy.StrategyRandom} {
		t.Run(s.String(), func(t *testing.T) {
			c := newTestCoord(t, policy.SelectPolicy{Strategy: s}, Entries("http://a:1", "http://b:1", "http://c:1")...)
			c.Table().Trip("http://a:1", 0, "test")
			b := c.Upstream("http://b:1")
			sp := c.pol.Load().sel
			for range 50 {
				got := c.sel.pick(c.pool.load().list, &sp, "", "", []*Upstream{b}, 0)
				if got == nil || got.Key() != "http://c:1" {
					t.Fatalf("picked %v, want http://c:1 (a open, b tried)", got)
				}
			}
			// Only tried ones left: a tried one is reused rather than none.
			c.Table().Trip("http://c:1", 0, "test")
			if got := c.sel.pick(c.pool.load().list, &sp, "", "", []*Upstream{b}, 0); got != b {
				t.Fatalf("picked %v, want the tried b", got)
			}
			c.Table().Trip("http://b:1", 0, "test")
			if got := c.sel.pick(c.pool.load().list, &sp, "", "", nil, 0); got != nil {
				t.Fatalf("picked %v with every breaker open, want nil", got)
			}
		})
	}
}

func TestRoundRobinTakesTurns(t *testing.T) {
	c := newTestCoord(t, policy.SelectPolicy{Strategy: policy.StrategyRoundRobin}, Entries("http://a:1", "http://b:1", "http://c:1")...)
	seen := map[string]int{}
	for range 30 {
		seen[c.pickFor("").Key()]++
	}
	for k, n := range seen {
		if n != 10 {
			t.Errorf("%s picked %d times, want 10 (%v)", k, n, seen)
		}
	}
}

// TestP2CSpreadsLoad sends requests through 10 equally good proxies and
// checks that none gets more than twice its fair share.
func TestP2CSpreadsLoad(t *testing.T) {
	farm := testproxy.Start(t, 10)
	origin := testproxy.NewOrigin(t)
	_, cl := setup(t, farm, Config{Document: policy.Document{Retry: fastRetry()}})
	const total = 2000
	sem := make(chan struct{}, 16)
	errs := make(chan error, total)
	for range total {
		sem <- struct{}{}
		go func() {
			defer func() { <-sem }()
			resp, _, err := get(t, cl, context.Background(), origin.URL)
			if err == nil && resp.StatusCode != 200 {
				err = &StatusError{Code: resp.StatusCode}
			}
			errs <- err
		}()
	}
	for range total {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	fair := int64(total / len(farm.Proxies))
	var counts []int64
	for _, p := range farm.Proxies {
		counts = append(counts, p.Requests())
	}
	t.Logf("requests per proxy: %v (fair share %d)", counts, fair)
	for i, p := range farm.Proxies {
		if n := p.Requests(); n > 2*fair {
			t.Errorf("proxy %d got %d requests, more than twice its fair share %d", i, n, fair)
		}
	}
}

func TestP2CPrefersBetter(t *testing.T) {
	c := newTestCoord(t, policy.SelectPolicy{}, Entries("http://a:1", "http://b:1")...)
	feed(c.Upstream("http://a:1"), 100, 50, time.Millisecond)
	feed(c.Upstream("http://b:1"), 100, 100, time.Millisecond)
	picks := 0
	for range 400 {
		if c.pickFor("").Key() == "http://b:1" {
			picks++
		}
	}
	// b wins every scored choice; a random eighth of choices explore.
	if picks < 300 {
		t.Errorf("b (100%%) picked %d of 400 times over a (50%%), want ≥ 300", picks)
	}
}

// TestOneEligibleInALargePool: with one eligible upstream among 1,000, every
// strategy finds it every time (p2c and random sample a few at random, then
// scan), never answering "none eligible" while one is.
func TestOneEligibleInALargePool(t *testing.T) {
	var urls []string
	for i := range 1000 {
		urls = append(urls, fmt.Sprintf("http://10.0.%d.%d:1", i/250, i%250+1))
	}
	for _, s := range []policy.Strategy{policy.StrategyP2C, policy.StrategyBest, policy.StrategyRoundRobin, policy.StrategyRandom} {
		t.Run(s.String(), func(t *testing.T) {
			c := newTestCoord(t, policy.SelectPolicy{Strategy: s}, Entries(urls...)...)
			only := c.Upstreams()[517]
			for _, u := range c.Upstreams() {
				if u != only {
					c.Table().Trip(u.Key(), 0, "test")
				}
			}
			for range 20 {
				if got := c.pickFor(""); got != only {
					t.Fatalf("picked %v, want the only eligible %v", got, only)
				}
			}
		})
	}
}
