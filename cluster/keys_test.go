package cluster

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/proxywhirl/retrycoord/internal/testutil"
	"github.com/proxywhirl/retrycoord/state"
)

func fp(t *testing.T, key string) string {
	t.Helper()
	f, err := Fingerprint(key)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// TestKeyRotation rotates a three-node fleet from key A to key B the way
// an operator does (install B everywhere, use B everywhere, remove A
// everywhere): membership never drops and records keep flowing; afterwards
// a node that knows only A cannot join, and one that knows only B can.
func TestKeyRotation(t *testing.T) {
	ms := startCluster(t, 3, clusterOpts{tweak: func(_ int, c *Config) {
		c.Keys = []string{keyA}
		c.Label = "fleet"
	}})
	fullFleet := func(step string) {
		t.Helper()
		for _, m := range ms {
			if got := len(m.node.Members()); got != 3 {
				t.Fatalf("after %s: %s sees %d members, want 3", step, m.node.Name(), got)
			}
		}
		up := "http://10.9.0.1:80/" + strings.ReplaceAll(step, " ", "-")
		ms[0].tb.Trip(up, time.Minute, "")
		testutil.Eventually(t, 5*time.Second, "a trip after "+step, func() bool { return allPhase(ms, up, state.PhaseOpen) })
	}
	step := func(name string, fn func(*Node) error) {
		t.Helper()
		for _, m := range ms {
			if err := fn(m.node); err != nil {
				t.Fatalf("%s on %s: %v", name, m.node.Name(), err)
			}
		}
		fullFleet(name)
	}

	step("install B", func(n *Node) error { return n.InstallKey(keyB) })
	step("use B", func(n *Node) error { return n.UseKey(keyB) })
	step("remove A", func(n *Node) error { return n.RemoveKey(keyA) })

	want := []KeyInfo{{Fingerprint: fp(t, keyB), Primary: true}}
	for _, m := range ms {
		got, err := m.node.Keys()
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("%s keys (-want +got):\n%s", m.node.Name(), diff)
		}
	}

	seeds := []string{ms[0].node.Addr()}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	old := startMember(t, "old-key", clusterOpts{}, seeds, func(c *Config) { c.Keys = []string{keyA}; c.Label = "fleet" })
	defer old.close()
	if _, err := old.node.Join(ctx, nil); err == nil {
		t.Error("a node with only the removed key joined")
	}
	fresh := startMember(t, "new-key", clusterOpts{}, seeds, func(c *Config) { c.Keys = []string{keyB}; c.Label = "fleet" })
	defer fresh.close()
	if _, err := fresh.node.Join(ctx, nil); err != nil {
		t.Fatalf("a node with the new key: %v", err)
	}
	testutil.Eventually(t, 5*time.Second, "the new node in every member list", func() bool {
		for _, m := range ms {
			if got := strings.Join(m.node.Members(), ","); strings.Contains(got, "old-key") || !strings.Contains(got, "new-key") {
				return false
			}
		}
		return true
	})
}

func TestKeyringErrors(t *testing.T) {
	ms := startCluster(t, 1, clusterOpts{tweak: func(_ int, c *Config) { c.Keys = []string{keyA, keyB} }})
	n := ms[0].node
	tests := []struct {
		name string
		fn   func() error
		want error
		msg  string
	}{
		{"remove primary", func() error { return n.RemoveKey(keyA) }, ErrRemovePrimary, ""},
		{"remove unknown", func() error { return n.RemoveKey(keyC) }, ErrKeyNotInstalled, ""},
		{"use unknown", func() error { return n.UseKey(keyC) }, ErrKeyNotInstalled, ""},
		{"bad base64", func() error { return n.InstallKey("not base64!") }, nil, "not valid base64"},
		{"bad length", func() error { return n.InstallKey("c2hvcnQ=") }, nil, "5 bytes"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.fn()
			if err == nil {
				t.Fatal("no error")
			}
			if tc.want != nil && !errors.Is(err, tc.want) {
				t.Errorf("err = %v, want %v", err, tc.want)
			}
			if !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("err = %v, want it to mention %q", err, tc.msg)
			}
			for _, k := range []string{keyA, keyB, keyC, "not base64!"} {
				if strings.Contains(err.Error(), k) {
					t.Errorf("err = %v contains a key", err)
				}
			}
		})
	}

	// Removing a middle key keeps the others, in order.
	if err := n.InstallKey(keyC); err != nil {
		t.Fatal(err)
	}
	if err := n.InstallKey(keyC); err != nil { // again: nothing changes
		t.Fatal(err)
	}
	if err := n.RemoveKey(keyB); err != nil {
		t.Fatal(err)
	}
	got, _ := n.Keys()
	want := []KeyInfo{{fp(t, keyA), true}, {fp(t, keyC), false}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("keys (-want +got):\n%s", diff)
	}
	for _, k := range got {
		if len(k.Fingerprint) != 8 || strings.Contains(keyA+keyB+keyC, k.Fingerprint) {
			t.Errorf("fingerprint %q", k.Fingerprint)
		}
	}
}

func TestKeyringOff(t *testing.T) {
	ms := startCluster(t, 1, clusterOpts{})
	n := ms[0].node
	for name, fn := range map[string]func() error{
		"list":    func() error { _, err := n.Keys(); return err },
		"install": func() error { return n.InstallKey(keyA) },
		"use":     func() error { return n.UseKey(keyA) },
		"remove":  func() error { return n.RemoveKey(keyA) },
	} {
		if err := fn(); !errors.Is(err, ErrNoKeyring) {
			t.Errorf("%s: err = %v, want ErrNoKeyring", name, err)
		}
	}
}

func ExampleFingerprint() {
	f, _ := Fingerprint("MDEyMzQ1Njc4OWFiY2RlZg==") // base64 of "0123456789abcdef"
	fmt.Println(len(f))
	// Output: 8
}
