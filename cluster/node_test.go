package cluster

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/proxywhirl/retrycoord/internal/testutil"
	"github.com/proxywhirl/retrycoord/policy"
	"github.com/proxywhirl/retrycoord/state"
)

func TestTripAndResetReachAll(t *testing.T) {
	ms := startCluster(t, 5, clusterOpts{})
	const up = "http://10.0.0.1:8080"
	ms[2].tb.Trip(up, time.Minute, "")
	testutil.Eventually(t, 5*time.Second, "open on all", func() bool { return allPhase(ms, up, state.PhaseOpen) })
	ms[4].tb.Reset(up)
	testutil.Eventually(t, 5*time.Second, "closed on all", func() bool { return allPhase(ms, up, state.PhaseClosed) })
	if s := ms[0].node.Stats(); s.RecordsChanged == 0 || s.Members != 5 {
		t.Errorf("stats = %+v, want records changed and 5 members", s)
	}
}

func TestFactsReachAll(t *testing.T) {
	ms := startCluster(t, 5, clusterOpts{})
	ms[1].tb.PutFact(state.KindPool, "http://10.0.0.9:3128", []byte(`{"region":"eu"}`))
	ms[3].tb.PutFact(state.KindPolicy, "", []byte("breaker:\n  failure_threshold: 7\n"))
	testutil.Eventually(t, 5*time.Second, "facts on all", func() bool {
		for _, m := range ms {
			p, ok1 := m.tb.Fact(state.KindPool, "http://10.0.0.9:3128")
			d, ok2 := m.tb.Fact(state.KindPolicy, "")
			if !ok1 || !ok2 || string(p.Value) != `{"region":"eu"}` || string(d.Value) != "breaker:\n  failure_threshold: 7\n" {
				return false
			}
		}
		return true
	})
	ms[0].tb.DeleteFact(state.KindPool, "http://10.0.0.9:3128")
	testutil.Eventually(t, 5*time.Second, "deletion on all", func() bool {
		for _, m := range ms {
			if _, ok := m.tb.Fact(state.KindPool, "http://10.0.0.9:3128"); ok {
				return false
			}
		}
		return true
	})
}

func TestExactlyOneProbe(t *testing.T) {
	pol := policy.DefaultBreaker()
	pol.ProbeGrace = 10 * time.Second
	ms := startCluster(t, 5, clusterOpts{policy: pol})
	const up = "http://10.0.0.2:8080"
	ms[0].tb.Trip(up, 300*time.Millisecond, "")
	testutil.Eventually(t, 5*time.Second, "open on all", func() bool { return allPhase(ms, up, state.PhaseOpen) })
	// Every node keeps asking; only the owner gets a probe permit.
	probes := map[string]int{}
	var tickets []state.Ticket
	var owners []*member
	testutil.Eventually(t, 5*time.Second, "a probe", func() bool {
		for _, m := range ms {
			if tk, err := m.tb.Admit(up); err == nil {
				probes[m.node.Name()]++
				tickets = append(tickets, tk)
				owners = append(owners, m)
			}
		}
		return len(probes) > 0
	})
	// Keep asking for a while longer: nobody else may probe.
	deadline := time.Now().Add(300 * time.Millisecond)
	for time.Now().Before(deadline) {
		for _, m := range ms {
			if tk, err := m.tb.Admit(up); err == nil {
				probes[m.node.Name()]++
				tickets = append(tickets, tk)
				owners = append(owners, m)
			}
		}
		time.Sleep(5 * time.Millisecond)
	}
	if len(tickets) != 1 {
		t.Fatalf("probes fleet-wide = %v, want exactly one", probes)
	}
	owners[0].tb.Settle(tickets[0], state.OutcomeSuccess, time.Millisecond)
	testutil.Eventually(t, 5*time.Second, "closed on all after the probe", func() bool { return allPhase(ms, up, state.PhaseClosed) })
}

func TestConfigErrors(t *testing.T) {
	tb, _ := state.NewTable(state.Config{Node: "a"})
	for _, tc := range []struct {
		name string
		cfg  Config
	}{
		{"no table", Config{}},
		{"name differs", Config{Table: tb, Name: "b"}},
		{"bad base64 key", Config{Table: tb, Keys: []string{"%%%"}}},
		{"short key", Config{Table: tb, Keys: []string{"c2hvcnQ="}}},
		{"bad ratio", Config{Table: tb, PoisonRatio: 2}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n, err := New(tc.cfg)
			if err == nil {
				n.Close()
				t.Fatal("New succeeded, want an error")
			}
		})
	}
}

func TestBurstGoesReliable(t *testing.T) {
	ms := startCluster(t, 3, clusterOpts{tweak: func(_ int, c *Config) { c.PoisonMinUpstreams = -1 }})
	var batch []state.Record
	var trs []state.Transition
	for i := range 300 {
		r := ms[0].tb.Trip(fmt.Sprintf("http://10.0.7.%d:%d", i%250, 8000+i), time.Hour, "burst")
		batch = append(batch, r)
		trs = append(trs, state.Transition{Record: r, Source: state.SourceManual})
	}
	ms[0].node.disseminate(trs)
	// At least one per peer: the subscription loop may publish the trips
	// in bursts of its own too.
	if s := ms[0].node.Stats(); s.ReliableSends < 2 {
		t.Errorf("ReliableSends = %d, want at least 2 (one per peer)", s.ReliableSends)
	}
	testutil.Eventually(t, 5*time.Second, "the burst on all", func() bool {
		for _, r := range batch {
			if !allPhase(ms, r.Upstream, state.PhaseOpen) {
				return false
			}
		}
		return true
	})
}

func TestStartAndCloseIdempotent(t *testing.T) {
	tb, _ := state.NewTable(state.Config{Node: "solo"})
	n, err := New(Config{Table: tb})
	if err != nil {
		t.Fatal(err)
	}
	if n.Addr() != "" || n.Members() != nil {
		t.Errorf("New started something: addr %q, members %v", n.Addr(), n.Members())
	}
	if err := n.Start(); err != nil {
		t.Fatal(err)
	}
	if err := n.Start(); !errors.Is(err, ErrStarted) {
		t.Errorf("second Start = %v, want ErrStarted", err)
	}
	select {
	case <-n.Ready():
	default:
		t.Error("a node without seeds is not ready")
	}
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
	if err := n.Start(); !errors.Is(err, ErrClosed) {
		t.Errorf("Start after Close = %v, want ErrClosed", err)
	}
	if _, err := n.Join(context.Background(), []string{"127.0.0.1:1"}); !errors.Is(err, ErrClosed) {
		t.Errorf("Join after Close = %v, want ErrClosed", err)
	}
	if err := n.Leave(context.Background()); !errors.Is(err, ErrClosed) {
		t.Errorf("Leave after Close = %v, want ErrClosed", err)
	}
}

// TestCloseWithoutStart: a node never started closes without leaking.
func TestCloseWithoutStart(t *testing.T) {
	tb, _ := state.NewTable(state.Config{Node: "idle"})
	n, err := New(Config{Table: tb})
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestPackageStart: Start returns a node that has joined its seeds and holds
// the fleet's state, and an error, with nothing left running, when no seed
// answers.
func TestPackageStart(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	tbA, _ := state.NewTable(state.Config{Node: "a"})
	a, err := Start(ctx, Config{Table: tbA, Base: fastBase()})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	tbA.Trip("http://10.0.9.1:80", time.Hour, "before b joined")
	tbB, _ := state.NewTable(state.Config{Node: "b"})
	b, err := Start(ctx, Config{Table: tbB, Base: fastBase(), Seeds: []string{a.Addr()}})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if got := tbB.State("http://10.0.9.1:80"); got != state.PhaseOpen {
		t.Errorf("on b after Start: %v, want open (the join's push/pull)", got)
	}

	tbC, _ := state.NewTable(state.Config{Node: "c"})
	short, cancelShort := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancelShort()
	if c, err := Start(short, Config{Table: tbC, Base: fastBase(), Seeds: []string{"127.0.0.1:1"}}); err == nil {
		c.Close()
		t.Fatal("Start with no seed answering succeeded")
	}
}
