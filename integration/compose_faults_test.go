//go:build compose

package integration

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/proxywhirl/retrycoord/state"
	"github.com/proxywhirl/retrycoord/state/redisledger"
)

// gossipToTheDead is memberlist's dead-node memory in the agents
// (memberlist.DefaultLANConfig().GossipToTheDeadTime): a dead member is
// forgotten this long after it was declared dead.
const gossipToTheDead = 30 * time.Second

// TestComposePartitionHeals: node 3 cut off the network for longer than
// memberlist's dead-node memory, a trip on node 1 meanwhile; once
// reconnected, node 3 converges and the membership is whole again.
func TestComposePartitionHeals(t *testing.T) {
	s := suite(t)
	id := s.container(t, "node-3")
	network := s.dockerT(t, "inspect", "-f", "{{range $k, $v := .NetworkSettings.Networks}}{{$k}} {{end}}", id)
	if strings.Contains(network, " ") {
		t.Fatalf("node-3: want one network, got %q", network)
	}
	ipOf := func() string {
		return s.dockerT(t, "inspect", "-f", "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}", id)
	}
	ipBefore := ipOf()
	connected := false
	t.Cleanup(func() {
		if !connected {
			_, _ = s.docker(context.WithoutCancel(t.Context()), "network", "connect", "--alias", "node-3", network, id)
		}
		s.forget("node-3")
	})

	s.dockerT(t, "network", "disconnect", network, id)
	cut := time.Now()
	took := waitFor(t, 60*time.Second, 250*time.Millisecond, "nodes 1 and 2 declare node-3 dead", func() (bool, string) {
		var saw []string
		for _, n := range []string{"node-1", "node-2"} {
			ms, err := s.members(t, n)
			if err != nil || ms["node-3"] != "" { // Members lists alive and suspect members only
				saw = append(saw, fmt.Sprintf("%s: %v %v", n, ms, err))
			}
		}
		return len(saw) == 0, strings.Join(saw, "; ")
	})
	t.Logf("node-3 declared dead by nodes 1 and 2 %v after the disconnect", took.Round(time.Millisecond))

	key := upstreamKey(6)
	tripped, err := s.api(t, "node-1").Trip(t.Context(), key, 10*time.Minute, "during the partition")
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, 20*time.Millisecond, "node-2 sees the trip", func() (bool, string) {
		b, err := s.breaker(t, "node-2", key)
		return err == nil && b.Gen == tripped.Gen && b.Phase == "open", fmt.Sprint(b, err)
	})

	// The scenario's length, not a wait for a condition: stay cut off until
	// memberlist has forgotten the dead node, with a margin.
	hold := gossipToTheDead + 5*time.Second
	t.Logf("holding the partition %v more (memberlist's dead-node memory is %v)", hold, gossipToTheDead)
	select {
	case <-time.After(hold):
	case <-t.Context().Done():
		t.Fatal(t.Context().Err())
	}

	s.dockerT(t, "network", "connect", "--alias", "node-3", network, id)
	connected = true
	healed := time.Now()
	s.forget("node-3")
	if ipAfter := ipOf(); ipAfter != ipBefore {
		// memberlist advertises the address it computed at start.
		t.Logf("note: node-3's address changed on reconnect: %s → %s", ipBefore, ipAfter)
	}
	conv := waitFor(t, 60*time.Second, 50*time.Millisecond, "node-3 converges on node-1's trip", func() (bool, string) {
		b, err := s.breaker(t, "node-3", key)
		return err == nil && b.Phase == "open" && b.Gen == tripped.Gen && b.Origin == "node-1", fmt.Sprint(b, err)
	})
	t.Logf("node-3 holds node-1's trip %v after the reconnect (partition lasted %v)", conv.Round(time.Millisecond), healed.Sub(cut).Round(time.Second))
	whole := waitFor(t, 90*time.Second, 250*time.Millisecond, "the membership is whole again", func() (bool, string) { return s.wholeFleet(t) })
	t.Logf("membership whole on every node %v after the reconnect", (conv + whole).Round(time.Millisecond))
}

// TestComposeRedisOutage: Redis stopped under traffic, no request fails
// because of it; Redis started again (empty: it keeps nothing on disk), the
// ledger equals the fleet's state.
func TestComposeRedisOutage(t *testing.T) {
	s := suite(t)
	id := s.container(t, "redis")
	t.Cleanup(func() {
		_, _ = s.docker(context.WithoutCancel(t.Context()), "start", id)
		s.forget("redis")
	})

	l := s.startLoad(t, 2, nodes...)
	defer l.stop()
	waitFor(t, 30*time.Second, 50*time.Millisecond, "traffic flows through every node", func() (bool, string) {
		ok, _, _ := l.counts()
		return ok["node-1"] > 3 && ok["node-2"] > 3 && ok["node-3"] > 3, fmt.Sprint(ok)
	})
	s.dockerT(t, "stop", "-t", "1", id)
	s.forget("redis")

	// The fleet's state changes while the ledger is away: a proxy breaks
	// (it refuses connections: the proxy's own fault, not a site's) and
	// trips under the traffic, and an operator trips another.
	s.breakProxy(t, 7, "refuse")
	waitFor(t, 60*time.Second, 50*time.Millisecond, "the broken proxy trips on every node", func() (bool, string) {
		var saw []string
		for _, n := range nodes {
			b, err := s.breaker(t, n, upstreamKey(7))
			if err != nil || b.Phase != "open" {
				saw = append(saw, fmt.Sprintf("%s: %s %v", n, b.Phase, err))
			}
		}
		return len(saw) == 0, strings.Join(saw, "; ")
	})
	if _, err := s.api(t, "node-2").Trip(t.Context(), upstreamKey(8), 10*time.Minute, "while redis is down"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, 20*time.Millisecond, "every node has the operator's trip", func() (bool, string) {
		for _, n := range nodes {
			if b, err := s.breaker(t, n, upstreamKey(8)); err != nil || b.Phase != "open" {
				return false, fmt.Sprint(n, b, err)
			}
		}
		return true, ""
	})
	ok, failed, _ := l.counts()
	t.Logf("traffic with Redis down: ok %v, failed %v", ok, failed)

	s.dockerT(t, "start", id)
	s.forget("redis")
	addr := ""
	waitFor(t, 30*time.Second, 200*time.Millisecond, "redis publishes its port", func() (bool, string) {
		s.forget("redis")
		a, err := s.lookupAddr(t, "redis", 6379)
		addr = a
		return err == nil, fmt.Sprint(a, err)
	})
	reader := ledgerReader(t, addr)
	took := waitFor(t, 60*time.Second, 250*time.Millisecond, "the ledger equals the fleet's state", func() (bool, string) {
		return ledgerMatches(t, s, reader)
	})
	t.Logf("the ledger matched the fleet %v after Redis came back", took.Round(time.Millisecond))
	l.stop()
	ok, failed, errs := l.counts()
	t.Logf("traffic over the whole outage: ok %v, failed %v", ok, failed)
	for _, n := range nodes {
		if failed[n] > 0 {
			t.Errorf("requests failed during the Redis outage: %v", errs)
			break
		}
	}
}

// ledgerReader returns a ledger over the published Redis, only to read it.
func ledgerReader(t testing.TB, addr string) *redisledger.Ledger {
	t.Helper()
	tb, err := state.NewTable(state.Config{Node: "integration-reader"})
	if err != nil {
		t.Fatal(err)
	}
	l, err := redisledger.New(redisledger.Config{URL: "redis://" + addr + "/0", Table: tb, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = l.Close() })
	return l
}

// ledgerMatches reports whether the ledger's breaker records equal the
// fleet's: every non-closed breaker of node 1 is in the ledger with the
// same generation, phase, origin and clock, and every breaker record in the
// ledger is what node 1 holds.
func ledgerMatches(t testing.TB, s *stack, l *redisledger.Ledger) (bool, string) {
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Second)
	defer cancel()
	recs, err := l.Records(ctx)
	if err != nil {
		return false, err.Error()
	}
	inLedger := make(map[string]string)
	for _, r := range recs {
		if r.Kind != state.KindBreaker && r.Kind != 0 {
			continue
		}
		inLedger[r.Upstream] = fmt.Sprintf("%s gen %d origin %s hlc %d", r.Phase, r.Gen, r.Origin, uint64(r.HLC))
	}
	bs, err := s.api(t, "node-1").Breakers(ctx, "")
	if err != nil {
		return false, err.Error()
	}
	var diffs []string
	for _, b := range bs {
		fleet := fmt.Sprintf("%s gen %d origin %s hlc %d", b.Phase, b.Gen, b.Origin, b.HLC)
		got, ok := inLedger[b.Upstream]
		switch {
		case ok && got != fleet:
			diffs = append(diffs, fmt.Sprintf("%s: fleet %q, ledger %q", b.Upstream, fleet, got))
		case !ok && b.Phase != "closed":
			diffs = append(diffs, fmt.Sprintf("%s: fleet %q, not in the ledger", b.Upstream, fleet))
		}
		delete(inLedger, b.Upstream)
	}
	for k, v := range inLedger {
		diffs = append(diffs, fmt.Sprintf("%s: only in the ledger: %q", k, v))
	}
	return len(diffs) == 0, strings.Join(diffs, "; ")
}

// TestComposeWrongKeyIntruder: a node started with the wrong gossip key
// does not join and changes nothing.
func TestComposeWrongKeyIntruder(t *testing.T) {
	s := suite(t)
	before := openBreakers(t, s, "node-1")
	s.dcT(t, "up", "-d", "--no-deps", "intruder")
	t.Cleanup(func() {
		_, _ = s.dc(context.WithoutCancel(t.Context()), "rm", "-s", "-f", "intruder")
		s.forget("intruder")
	})
	waitFor(t, 60*time.Second, 250*time.Millisecond, "the intruder serves its API", func() (bool, string) {
		s.forget("intruder")
		if _, err := s.lookupAddr(t, "intruder", 7947); err != nil {
			return false, err.Error()
		}
		r, err := s.api(t, "intruder").Ready(t.Context())
		return err == nil && r.Ready, fmt.Sprint(r, err)
	})
	// It tries: its seeds are nodes 1–3, and it trips a proxy of the pool.
	key := upstreamKey(9)
	if _, err := s.api(t, "intruder").Trip(t.Context(), key, 10*time.Minute, "from the intruder"); err != nil {
		t.Fatal(err)
	}
	b0, err := s.breaker(t, "node-1", key)
	if err != nil {
		t.Fatal(err)
	}

	// Over several push/pull and rejoin rounds, nothing changes.
	holdFor(t, 15*time.Second, 500*time.Millisecond, "the fleet ignores the intruder", func() (bool, string) {
		if ok, saw := s.wholeFleet(t); !ok {
			return false, "membership: " + saw
		}
		ms, err := s.members(t, "intruder")
		if err != nil || len(ms) != 1 {
			return false, fmt.Sprintf("the intruder sees %v %v", ms, err)
		}
		for _, n := range nodes {
			b, err := s.breaker(t, n, key)
			if err != nil || b.Phase != "closed" || b.Gen != b0.Gen {
				return false, fmt.Sprintf("%s: %s: %+v %v", n, key, b, err)
			}
		}
		return true, ""
	})
	t.Logf("for 15s: nodes 1–3 stayed three and kept %s closed (gen %d); the intruder saw only itself", key, b0.Gen)
	if diff := diffBreakers(before, openBreakers(t, s, "node-1")); diff != "" {
		t.Errorf("node-1's breakers changed while the intruder ran:\n%s", diff)
	}
}
