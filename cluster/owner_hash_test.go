package cluster

import (
	"fmt"
	"hash/fnv"
	"slices"
	"testing"
)

// The probe owner's score is part of the fleet's wire contract: nodes of
// different versions must name the same owner, or a recovering proxy is
// probed by two nodes (or by none). It is FNV-1a 64 over the upstream, one
// 0xff byte and the member's name, then splitmix64's finalizer; this
// computes it with the standard library's FNV and compares.
func TestProbeOwnerScoreIsFNV1aWithSplitmix(t *testing.T) {
	want := fnvSplitmixScore
	for _, c := range []struct{ upstream, member string }{
		{"http://10.0.0.1:8080", "node-1"},
		{"http://10.0.0.1:8080", "node-2"},
		{"socks5://proxy.example:1080", "agent-a"},
		{"", ""},
		{"pair:http://p:1|example.com", "n"},
	} {
		if got, w := score(c.upstream, c.member), want(c.upstream, c.member); got != w {
			t.Errorf("score(%q, %q) = %#x, want %#x", c.upstream, c.member, got, w)
		}
	}
}

// fnvSplitmixScore is the probe owner's score computed with the standard
// library's FNV-1a 64 and splitmix64's finalizer.
func fnvSplitmixScore(upstream, member string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(upstream))
	h.Write([]byte{0xff})
	h.Write([]byte(member))
	x := h.Sum64()
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}

// TestProbeOwnerIsTheHighestScore: the owner is the candidate with the
// highest score (not, say, the lowest: every node would still agree with
// itself, but not with nodes of another version), whatever the order the
// candidates come in. The scores come from fnvSplitmixScore, not score.
func TestProbeOwnerIsTheHighestScore(t *testing.T) {
	members := []string{"node-a", "node-b", "node-c", "node-d", "node-e"}
	reversed := slices.Clone(members)
	slices.Reverse(reversed)
	for i := range 200 {
		up := fmt.Sprintf("http://10.2.%d.%d:80", i/256, i%256)
		var want string
		var best uint64
		for _, m := range members {
			if s := fnvSplitmixScore(up, m); want == "" || s > best {
				want, best = m, s
			}
		}
		for _, order := range [][]string{members, reversed} {
			if got := owner(up, order); got != want {
				t.Fatalf("owner(%q, %v) = %q, want %q (highest score)", up, order, got, want)
			}
		}
	}
	if got := owner("http://10.2.0.1:80", nil); got != "" {
		t.Fatalf("owner with no candidates = %q, want none", got)
	}
}
