//go:build compose

package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/proxywhirl/retrycoord/policy"
)

// The docker compose suite: each test is one scenario of issue 7, run
// against the stack of docker-compose.yml that scripts/integration.sh
// starts. Each test starts from a healthy farm, closed breakers and a whole
// fleet (stack.reset), and leaves the containers running and connected.

// testPolicy is patched into the fleet once: four attempts, so that a
// request always finds a healthy proxy when three of ten are broken (each
// retry goes to an upstream not tried yet), and short waits between them.
const testPolicy = `{"retry": {"max_attempts": 4, "base_delay": "100ms"}}`

var policyOnce sync.Once

// suite returns the stack with the test policy in force on every node and
// the state reset.
func suite(t *testing.T) *stack {
	t.Helper()
	s := composeStack(t)
	policyOnce.Do(func() {
		waitFor(t, 60*time.Second, 500*time.Millisecond, "the fleet is whole", func() (bool, string) { return s.wholeFleet(t) })
		if _, err := s.api(t, "node-1").PatchPolicy(t.Context(), json.RawMessage(testPolicy)); err != nil {
			t.Fatalf("patch the policy: %v", err)
		}
		waitFor(t, 30*time.Second, 200*time.Millisecond, "every node has the patched policy", func() (bool, string) {
			var saw []string
			for _, n := range nodes {
				raw, err := s.api(t, n).PolicyJSON(t.Context())
				var doc policy.Document
				if err == nil {
					doc, err = policy.ParseDocument(raw)
				}
				if err != nil || doc.Retry.MaxAttempts != 4 {
					saw = append(saw, fmt.Sprintf("%s: attempts %d %v", n, doc.Retry.MaxAttempts, err))
				}
			}
			return len(saw) == 0, strings.Join(saw, "; ")
		})
	})
	s.reset(t)
	return s
}

// TestComposeTripSpreads: a proxy broken in the farm (refusing connections),
// traffic through node 1 trips it, and nodes 2 and 3 report it open through
// their APIs.
func TestComposeTripSpreads(t *testing.T) {
	s := suite(t)
	key := upstreamKey(0)
	s.breakProxy(t, 0, "refuse") // the proxy's own fault: its proxy-level breaker opens

	// Watch every node at once, so that each one's first sight of the
	// open breaker is timed independently of the others.
	type sight struct {
		at time.Time
		b  string
	}
	seen := make(map[string]sight)
	var mu sync.Mutex
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	for _, n := range nodes {
		c := s.api(t, n)
		wg.Go(func() {
			for ctx.Err() == nil {
				b, err := c.Breaker(ctx, key)
				if err == nil && b.Phase == "open" {
					mu.Lock()
					seen[n] = sight{at: time.Now(), b: fmt.Sprintf("gen %d origin %s time %s reason %q", b.Gen, b.Origin, b.Time.Format("15:04:05.000"), b.Reason)}
					mu.Unlock()
					return
				}
				select {
				case <-ctx.Done():
				case <-time.After(2 * time.Millisecond):
				}
			}
		})
	}
	l := s.startLoad(t, 4, "node-1")
	wg.Wait()
	l.stop()
	ok, failed, errs := l.counts()
	t.Logf("traffic through node-1: %d ok, %d failed %v", ok["node-1"], failed["node-1"], errs)

	first := seen["node-1"].at
	for _, n := range nodes {
		sg, found := seen[n]
		if !found {
			t.Fatalf("%s never reported %s open within 60s (seen: %v)", n, key, seen)
		}
		t.Logf("%s reports %s open at +%v after node-1 (%s)", n, key, sg.at.Sub(first).Round(time.Millisecond), sg.b)
	}
	// The delay as the breaker record itself dates it (the containers
	// share the host's clock).
	b1, err := s.breaker(t, "node-1", key)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range nodes[1:] {
		t.Logf("delay: %s saw the trip %v after node-1's record time (poll every 2ms over HTTP)", n, seen[n].at.Sub(b1.Time).Round(time.Millisecond))
	}
	if failed["node-1"] > 0 {
		t.Errorf("%d requests through node-1 failed with one proxy of ten broken: %v", failed["node-1"], errs)
	}
}

// TestComposeNodeKilledAndRestarted: node 2 killed under traffic, nodes 1
// and 3 keep serving; node 2 started again holds the fleet's breakers as
// soon as it reports ready.
func TestComposeNodeKilledAndRestarted(t *testing.T) {
	s := suite(t)
	id := s.container(t, "node-2")
	t.Cleanup(func() { // never leave the fleet short of a node
		_, _ = s.docker(context.WithoutCancel(t.Context()), "start", id)
		s.forget("node-2")
	})

	l := s.startLoad(t, 3, "node-1", "node-3")
	waitFor(t, 30*time.Second, 50*time.Millisecond, "traffic flows through nodes 1 and 3", func() (bool, string) {
		ok, _, _ := l.counts()
		return ok["node-1"] > 5 && ok["node-3"] > 5, fmt.Sprint(ok)
	})
	s.dockerT(t, "kill", id)
	killed := time.Now()
	s.forget("node-2")
	waitFor(t, 60*time.Second, 250*time.Millisecond, "nodes 1 and 3 see node-2 gone", func() (bool, string) {
		var saw []string
		for _, n := range []string{"node-1", "node-3"} {
			ms, err := s.members(t, n)
			if err != nil || ms["node-2"] == "alive" || len(ms) == 0 {
				saw = append(saw, fmt.Sprintf("%s: %v %v", n, ms, err))
			}
		}
		return len(saw) == 0, strings.Join(saw, "; ")
	})
	t.Logf("nodes 1 and 3 saw node-2 gone %v after the kill", time.Since(killed).Round(time.Millisecond))

	// Breakers that change while node 2 is down: it must learn them.
	for _, i := range []int{4, 5} {
		if _, err := s.api(t, "node-1").Trip(t.Context(), upstreamKey(i), 5*time.Minute, "while node-2 is down"); err != nil {
			t.Fatalf("trip %s: %v", upstreamKey(i), err)
		}
	}
	waitFor(t, 10*time.Second, 20*time.Millisecond, "node-3 sees the trips", func() (bool, string) {
		b, err := s.breaker(t, "node-3", upstreamKey(5))
		return err == nil && b.Phase == "open", fmt.Sprint(b, err)
	})
	l.stop()
	ok, failed, errs := l.counts()
	t.Logf("traffic while node-2 was killed: ok %v, failed %v", ok, failed)
	if failed["node-1"]+failed["node-3"] > 0 {
		t.Errorf("requests through nodes 1 and 3 failed while node-2 was down: %v", errs)
	}
	if ok["node-1"] == 0 || ok["node-3"] == 0 {
		t.Errorf("no traffic got through: %v", ok)
	}

	want := openBreakers(t, s, "node-1")
	s.dockerT(t, "start", id)
	started := time.Now()
	var ready time.Duration
	waitFor(t, 60*time.Second, 20*time.Millisecond, "node-2 reports ready", func() (bool, string) {
		s.forget("node-2") // its published ports are new after a start
		if _, err := s.lookupAddr(t, "node-2", 7947); err != nil {
			return false, err.Error()
		}
		ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
		defer cancel()
		r, err := s.api(t, "node-2").Ready(ctx)
		ready = time.Since(started)
		return err == nil && r.Ready, fmt.Sprint(r, err)
	})
	got := openBreakers(t, s, "node-2") // at once: readiness is the gate
	t.Logf("node-2 ready %v after docker start; holds %d open breakers, node-1 %d", ready.Round(time.Millisecond), len(got), len(want))
	if diff := diffBreakers(want, got); diff != "" {
		t.Errorf("node-2, just ready, does not hold the fleet's breakers (node-1 → node-2):\n%s", diff)
	}
	waitFor(t, 60*time.Second, 250*time.Millisecond, "the fleet is whole again", func() (bool, string) { return s.wholeFleet(t) })
}

// openBreakers returns a node's non-closed breakers: upstream → "phase gen
// origin hlc".
func openBreakers(t testing.TB, s *stack, service string) map[string]string {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	bs, err := s.api(t, service).Breakers(ctx, "")
	if err != nil {
		t.Fatalf("%s: breakers: %v", service, err)
	}
	out := make(map[string]string)
	for _, b := range bs {
		if b.Phase != "closed" {
			out[b.Upstream] = fmt.Sprintf("%s gen %d origin %s hlc %d", b.Phase, b.Gen, b.Origin, b.HLC)
		}
	}
	return out
}

// diffBreakers lists the upstreams whose description differs.
func diffBreakers(want, got map[string]string) string {
	var b strings.Builder
	for k, w := range want {
		if g := got[k]; g != w {
			fmt.Fprintf(&b, "  %s: want %q, got %q\n", k, w, g)
		}
	}
	for k, g := range got {
		if _, ok := want[k]; !ok {
			fmt.Fprintf(&b, "  %s: want nothing, got %q\n", k, g)
		}
	}
	return b.String()
}

// TestComposeScraperFailover: a scraper-like client through each node's
// forward proxy, plain HTTP and CONNECT, with a third of the farm broken;
// every request succeeds through failover.
func TestComposeScraperFailover(t *testing.T) {
	s := suite(t)
	for i, fault := range []string{"refuse", "status 502", "ban 403"} {
		s.breakProxy(t, i, fault)
	}
	const perNode = 30 // requests of each kind through each node
	type result struct {
		node, kind string
		err        error
		attempts   string
	}
	results := make(chan result, len(nodes)*2*perNode)
	var wg sync.WaitGroup
	for _, n := range nodes {
		proxy := s.proxyURL(t, n)
		hc := &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{Proxy: http.ProxyURL(proxy), DisableKeepAlives: true}}
		for w := range 2 { // two workers per node and kind
			wg.Go(func() {
				for i := w; i < perNode; i += 2 {
					err := get(t.Context(), hc, fmt.Sprintf("%s/scrape/%s/%d", originURL, n, i))
					results <- result{node: n, kind: "http", err: err}
				}
			})
			wg.Go(func() {
				for i := w; i < perNode; i += 2 {
					attempts, err := connectGet(t.Context(), proxy.Host, fmt.Sprintf("/tunnel/%s/%d", n, i))
					results <- result{node: n, kind: "connect", err: err, attempts: attempts}
				}
			})
		}
	}
	wg.Wait()
	close(results)
	count := map[string]int{}
	retried := map[string]int{}
	for r := range results {
		k := r.node + "/" + r.kind
		if r.err != nil {
			t.Errorf("%s: %v", k, r.err)
			continue
		}
		count[k]++
		if r.attempts != "" && r.attempts != "1" {
			retried[k]++
		}
	}
	t.Logf("successes %v; CONNECT tunnels that needed failover %v", count, retried)
	for _, n := range nodes {
		t.Logf("%s open breakers: %v", n, openBreakers(t, s, n))
	}
}
