package cluster

import (
	"hash/fnv"
	"testing"
)

// The probe owner's score is part of the fleet's wire contract: nodes of
// different versions must name the same owner, or a recovering proxy is
// probed by two nodes (or by none). It is FNV-1a 64 over the upstream, one
// 0xff byte and the member's name, then splitmix64's finalizer; this
// computes it with the standard library's FNV and compares.
func TestProbeOwnerScoreIsFNV1aWithSplitmix(t *testing.T) {
	want := func(upstream, member string) uint64 {
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
