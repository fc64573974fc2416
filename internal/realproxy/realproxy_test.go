package realproxy

import (
	"fmt"
	"net"
	"strings"
	"testing"
)

// fatalTB records Fatalf and stops the caller, as testing.T does.
type fatalTB struct {
	testing.TB
	msg string
}

type stopped struct{}

func (f *fatalTB) Helper() {}
func (f *fatalTB) Fatalf(format string, args ...any) {
	f.msg = fmt.Sprintf(format, args...)
	panic(stopped{})
}

// TestMissingBinaryFails: a proxy that is not installed fails the test with
// a message naming the package and the ensure script; it never skips.
func TestMissingBinaryFails(t *testing.T) {
	f := &fatalTB{TB: t}
	func() {
		defer func() {
			if r := recover(); r != nil {
				if _, ok := r.(stopped); !ok {
					panic(r)
				}
			}
		}()
		start(f, spec{name: "nosuchproxy", paths: []string{"/nonexistent/nosuchproxy-rc"}, pkg: "nosuchproxy-pkg"})
	}()
	for _, want := range []string{"nosuchproxy is not installed", "nosuchproxy-pkg", "scripts/ensure-test-deps.sh"} {
		if !strings.Contains(f.msg, want) {
			t.Errorf("Fatalf message %q lacks %q", f.msg, want)
		}
	}
	if t.Skipped() {
		t.Error("the test was skipped")
	}
}

// TestKillStopsTheProcessGroup: Kill ends the server, its port stops
// accepting, and a second Kill is harmless.
func TestKillStopsTheProcessGroup(t *testing.T) {
	p := Tinyproxy(t)
	if p.PID() == 0 {
		t.Fatal("no PID while running")
	}
	p.Kill(t)
	p.Kill(t)
	if p.PID() != 0 {
		t.Errorf("PID %d after Kill, want 0", p.PID())
	}
	if c, err := net.Dial("tcp", p.Addr()); err == nil {
		c.Close()
		t.Errorf("%s still accepts connections after Kill", p.Addr())
	}
}
