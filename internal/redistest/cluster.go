package redistest

import (
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/proxywhirl/retrycoord/internal/serverproc"
)

// Cluster is a Redis Cluster of three masters and no replicas, each a
// Server on its own loopback port.
type Cluster struct {
	Servers []*Server
}

// StartCluster starts three redis-server processes with --cluster-enabled,
// joins them with `redis-cli --cluster create ... --cluster-yes`, and waits
// until every node reports cluster_state:ok with all 16384 slots assigned.
// Every process is killed when the test ends. The test is skipped when
// redis-server or redis-cli is missing.
func StartCluster(t testing.TB) *Cluster {
	t.Helper()
	if _, err := exec.LookPath("redis-cli"); err != nil {
		t.Skip("redistest: redis-cli not installed (run scripts/ensure-test-deps.sh)")
	}
	c := &Cluster{}
	for range 3 {
		c.Servers = append(c.Servers, start(t, []string{
			"--cluster-enabled", "yes",
			"--cluster-config-file", "nodes.conf",
			"--cluster-node-timeout", "2000",
		}))
	}
	args := append([]string{"--cluster", "create"}, c.Addrs()...)
	args = append(args, "--cluster-replicas", "0", "--cluster-yes")
	out, err := exec.Command("redis-cli", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("redistest: redis-cli --cluster create: %v: %s", err, serverproc.Tail(out, 500))
	}
	deadline := time.Now().Add(startTimeout)
	for !c.ready() {
		if time.Now().After(deadline) {
			t.Fatalf("redistest: cluster on %v not ready within %v", c.Addrs(), startTimeout)
		}
		time.Sleep(20 * time.Millisecond) // polling the nodes' own view
	}
	return c
}

// Addrs returns the masters' "127.0.0.1:port" addresses.
func (c *Cluster) Addrs() []string {
	addrs := make([]string, len(c.Servers))
	for i, s := range c.Servers {
		addrs[i] = s.Addr()
	}
	return addrs
}

func (c *Cluster) ready() bool {
	for _, s := range c.Servers {
		info, err := Do(s.Addr(), "CLUSTER", "INFO")
		if err != nil || !strings.Contains(info, "cluster_state:ok") ||
			!strings.Contains(info, "cluster_slots_assigned:16384") {
			return false
		}
	}
	return true
}
