package cluster

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/proxywhirl/retrycoord/internal/testutil"
	"github.com/proxywhirl/retrycoord/policy"
	"github.com/proxywhirl/retrycoord/state"
)

// TestBudgetSharedAcrossThreeNodes: over real memberlist, a node that sent
// one request cannot retry past what the fleet's retries left of the
// fleet's budget, and the floor is split by the three members.
func TestBudgetSharedAcrossThreeNodes(t *testing.T) {
	ms := startCluster(t, 3, clusterOpts{})
	const site = "example.com"
	b := policy.RetryBudget{Ratio: 0.2, MinPerSecond: 0.3, Window: 10 * time.Second}
	testutil.Eventually(t, 5*time.Second, "three members known", func() bool {
		for _, m := range ms {
			if m.tb.Members() != 3 {
				return false
			}
		}
		return true
	})
	now := time.Now()
	for range 100 {
		ms[0].tb.CountFirst(site, now)
	}
	for range 20 {
		if !ms[0].tb.ChargeRetry(site, b, now) {
			t.Fatal("node 0 refused a retry within the ratio")
		}
	}
	ms[2].tb.CountFirst(site, now)
	testutil.Eventually(t, 5*time.Second, "node 2 sees the fleet's counts", func() bool {
		st := ms[2].tb.BudgetStatus(site, b, time.Now())
		return st.Firsts == 101 && st.Retries == 20
	})
	granted := 0
	for range 10 {
		if ms[2].tb.ChargeRetry(site, b, time.Now()) {
			granted++
		}
	}
	if granted != 1 {
		t.Errorf("node 2 granted %d retries after the fleet spent its ratio, want its floor share 1", granted)
	}
}

func TestBudgetCodecRoundTrip(t *testing.T) {
	counts := []state.BudgetCount{
		{Site: "a.com", Buckets: []state.BudgetBucket{{Index: 1764590000, Firsts: 7, Retries: 3, Floor: 2}, {Index: 1764590001, Firsts: 3}}},
		{Site: "b.org", Buckets: []state.BudgetBucket{{Index: 1764590001, Firsts: 1 << 31, Retries: 5}}},
	}
	sketches := []state.LatencySketch{{Site: "a.com", Zero: 2, Bins: []state.SketchBin{{Index: -3, Count: 1}, {Index: 460, Count: 9}}}}
	pkts := packBudget("node-a", counts, PacketBudget)
	if len(pkts) != 1 {
		t.Fatalf("%d packets, want 1", len(pkts))
	}
	m, err := decode(pkts[0])
	if err != nil {
		t.Fatal(err)
	}
	if m.kind != msgBudget || m.origin != "node-a" {
		t.Errorf("kind %d origin %q", m.kind, m.origin)
	}
	if diff := cmp.Diff(counts, m.budget); diff != "" {
		t.Errorf("budget (-want +got):\n%s", diff)
	}
	pkts = packLatency("node-a", sketches, PacketBudget)
	m, err = decode(pkts[0])
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(sketches, m.latency); diff != "" {
		t.Errorf("latency (-want +got):\n%s", diff)
	}
}

func TestBudgetCodecRejects(t *testing.T) {
	good := packBudget("n", []state.BudgetCount{{Site: "a.com", Buckets: []state.BudgetBucket{{Index: 1, Firsts: 1}}}}, PacketBudget)[0]
	wrongVersion := append([]byte{byte(msgBudget), 2}, good[2:]...)
	tests := []struct {
		name string
		msg  []byte
		want error
	}{
		{"version 2 of kind 3", wrongVersion, errUnknownVersion},
		{"truncated", good[:len(good)-1], errMalformed},
		{"empty origin", []byte{byte(msgBudget), 1, 0}, errMalformed},
		{"too many buckets", append(appendString([]byte{byte(msgBudget), 1}, "n"), 1, 'a', 200, 1), errMalformed},
		{"too many bins", append(appendString([]byte{byte(msgLatency), 1}, "n"), 1, 'a', 0, 0xff, 0xff, 0x03), errMalformed},
		{"count above 32 bits", append(appendString([]byte{byte(msgBudget), 1}, "n"), 1, 'a', 1, 2, 0x80, 0x80, 0x80, 0x80, 0x10, 0, 0), errMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := decode(tt.msg); err != tt.want {
				t.Errorf("decode = %v, want %v", err, tt.want)
			}
		})
	}
}

// TestBudgetFloorCountsLostMembers: a member that goes away still takes
// its share of the floor, so that the two sides of a partition do not
// each split it by fewer members.
func TestBudgetFloorCountsLostMembers(t *testing.T) {
	ms := startCluster(t, 3, clusterOpts{})
	testutil.Eventually(t, 5*time.Second, "three members known", func() bool { return ms[0].tb.Members() == 3 })
	ms[2].close()
	testutil.Eventually(t, 10*time.Second, "node 2 gone from node 0's view", func() bool { return len(ms[0].node.Members()) == 2 })
	if got := ms[0].tb.Members(); got != 3 {
		t.Errorf("node 0 splits the floor by %d members, want 3: the lost member still counts", got)
	}
}

// TestLatencySharedAcrossNodes: a node's latency sketch reaches the others
// (at most once a second), and their quantile for the site is its.
func TestLatencySharedAcrossNodes(t *testing.T) {
	ms := startCluster(t, 2, clusterOpts{})
	now := time.Now()
	for i := range 100 {
		ms[0].tb.AddLatency("example.com", time.Duration(i+1)*time.Millisecond, now)
	}
	testutil.Eventually(t, 5*time.Second, "node 1 knows the site's p95", func() bool {
		_, ok := ms[1].tb.LatencyQuantile("example.com", 0.95, 20, time.Now())
		return ok
	})
	got, _ := ms[1].tb.LatencyQuantile("example.com", 0.95, 20, time.Now())
	if got < 93*time.Millisecond || got > 97*time.Millisecond {
		t.Errorf("node 1's p95 = %v, want node 0's 95ms ±1%%", got)
	}
	if st := ms[1].node.Stats(); st.SketchesMerged == 0 {
		t.Error("SketchesMerged = 0")
	}
}
