package redistest

import (
	"strings"
	"testing"
)

func TestServerStopStart(t *testing.T) {
	s := Start(t)
	if got, err := Do(s.Addr(), "SET", "k", "v"); err != nil || got != "OK" {
		t.Fatalf("SET = %q, %v", got, err)
	}
	pid := s.PID()
	s.Kill(t)
	if _, err := Do(s.Addr(), "PING"); err == nil {
		t.Fatal("PING answered after Kill")
	}
	s.Start(t)
	if s.PID() == pid || s.PID() == 0 {
		t.Fatalf("PID after restart = %d, before %d", s.PID(), pid)
	}
	if _, err := Do(s.Addr(), "GET", "k"); err == nil {
		t.Fatal("data survived a restart with persistence off")
	}
	s.Stop(t)
}

func TestCluster(t *testing.T) {
	c := StartCluster(t)
	nodes, err := Do(c.Addrs()[0], "CLUSTER", "NODES")
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Count(nodes, "master"); got != 3 {
		t.Fatalf("masters = %d, want 3:\n%s", got, nodes)
	}
}
