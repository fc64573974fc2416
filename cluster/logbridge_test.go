package cluster

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
)

func TestLogBridge(t *testing.T) {
	var buf bytes.Buffer
	l := newMemberlistLogger(slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug})))
	l.Printf("[DEBUG] memberlist: Stream connection from=127.0.0.1:1")
	l.Printf("[INFO] memberlist: Marking node-2 as failed")
	l.Printf("[WARN] memberlist: Was able to connect to node-2 over TCP but UDP probes failed")
	l.Printf("[ERR] memberlist: Failed to send ping")
	l.Printf("no prefix")
	got := buf.String()
	for _, want := range []string{
		`level=DEBUG msg="Stream connection from=127.0.0.1:1" component=memberlist`,
		`level=INFO msg="Marking node-2 as failed"`,
		`level=WARN msg="Was able to connect`,
		`level=ERROR msg="Failed to send ping"`,
		`level=INFO msg="no prefix"`,
	} {
		if !strings.Contains(got, want) {
			t.Errorf("log output lacks %q:\n%s", want, got)
		}
	}
}

func TestOwnerIsRendezvous(t *testing.T) {
	members := []string{"a", "b", "c", "d", "e"}
	counts := map[string]int{}
	for i := range 1000 {
		up := "http://10.1.0." + string(rune('0'+i%10)) + ":" + strings.Repeat("1", i%7+1) + string(rune('a'+i/70))
		o := owner(up, members)
		counts[o]++
		// Removing a member moves only its own upstreams.
		if o != "c" && owner(up, []string{"a", "b", "d", "e"}) != o {
			t.Fatalf("owner of %s moved from %s when c left", up, o)
		}
	}
	for _, m := range members {
		if counts[m] < 100 {
			t.Errorf("member %s owns %d of 1000 upstreams: %v", m, counts[m], counts)
		}
	}
	if owner("x", nil) != "" {
		t.Error("owner over no candidates is not empty")
	}
}
