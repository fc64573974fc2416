package cluster

import (
	"context"
	"encoding/base64"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/memberlist"
	"github.com/proxywhirl/retrycoord/internal/testutil"
	"github.com/proxywhirl/retrycoord/state"
)

var (
	keyA = base64.StdEncoding.EncodeToString([]byte("0123456789abcdef0123456789abcdef"))
	keyB = base64.StdEncoding.EncodeToString([]byte("fedcba9876543210"))
	keyC = base64.StdEncoding.EncodeToString([]byte("another 24-byte key here"))
)

// inject sends a records message straight to target's address from from's
// memberlist, as a node that is not a member would.
func inject(t *testing.T, from *member, target *member, rec state.Record) {
	t.Helper()
	ml := from.node.ml.Load()
	a := memberlist.Address{Addr: target.node.Addr(), Name: target.node.Name()}
	if err := ml.SendToAddress(a, encodeRecords([]state.Record{rec})); err != nil {
		t.Fatal(err)
	}
}

func TestIntruders(t *testing.T) {
	for _, tc := range []struct {
		name  string
		tweak func(*Config)
	}{
		{"wrong key", func(c *Config) { c.Keys = []string{keyC} }},
		{"no key", func(c *Config) { c.Keys = nil }},
		{"wrong label", func(c *Config) { c.Label = "other" }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ms := startCluster(t, 2, clusterOpts{tweak: func(_ int, c *Config) {
				c.Keys = []string{keyA, keyB}
				c.Label = "fleet"
			}})
			seeds := []string{ms[0].node.Addr()}
			good := startMember(t, "good", clusterOpts{}, seeds, func(c *Config) { c.Keys = []string{keyA}; c.Label = "fleet" })
			defer good.close()
			bad := startMember(t, "intruder", clusterOpts{}, seeds, func(c *Config) {
				c.Keys = []string{keyA}
				c.Label = "fleet"
				tc.tweak(c)
			})
			defer bad.close()

			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if _, err := bad.node.Join(ctx, nil); err == nil {
				t.Error("the intruder joined")
			}
			trip := state.Record{Kind: state.KindBreaker, Upstream: "http://evil:1", Gen: 9, Phase: state.PhaseOpen,
				HLC: ms[0].tb.Clock().Now(), Origin: "intruder", OpenFor: time.Hour}
			inject(t, bad, ms[1], trip)
			// The same injection with the right key and label arrives: by
			// then the intruder's packet has been processed, and refused.
			ok := trip
			ok.Upstream, ok.Origin = "http://fine:1", "good"
			inject(t, good, ms[1], ok)
			testutil.Eventually(t, 5*time.Second, "the keyed injection", func() bool { return ms[1].tb.State(ok.Upstream) == state.PhaseOpen })
			if ms[1].tb.State(trip.Upstream) != state.PhaseClosed {
				t.Error("the intruder's record was merged")
			}
			for _, m := range ms {
				if got := strings.Join(m.node.Members(), ","); strings.Contains(got, "intruder") {
					t.Errorf("%s members = %s, want no intruder", m.node.Name(), got)
				}
			}
		})
	}
}

func TestMalformedPackets(t *testing.T) {
	ms := startCluster(t, 2, clusterOpts{})
	ml := ms[0].node.ml.Load()
	var target *memberlist.Node
	for _, m := range ml.Members() {
		if m.Name == ms[1].node.Name() {
			target = m
		}
	}
	valid := encodeRecords(sampleRecords[:1])
	oversized := appendHeader(nil, msgRecords, codecV1)
	oversized = append(oversized, 1, 0xff, 0xff, 0xff, 0xff, 0x0f)
	bad := [][]byte{
		{0xee},                      // truncated header
		valid[:len(valid)-4],        // truncated record
		oversized,                   // length beyond the bound
		{byte(msgRecords), 7, 1, 2}, // unknown version
		{42, codecVersion, 1, 2, 3}, // unknown kind
	}
	for _, b := range bad {
		if err := ml.SendBestEffort(target, b); err != nil {
			t.Fatal(err)
		}
	}
	ms[0].tb.Trip("http://10.0.3.1:80", time.Minute, "")
	testutil.Eventually(t, 5*time.Second, "a good record after the bad ones", func() bool {
		return ms[1].tb.State("http://10.0.3.1:80") == state.PhaseOpen
	})
	s := ms[1].node.Stats()
	if s.Malformed != 3 || s.UnknownVersion != 1 || s.UnknownKind != 1 {
		t.Errorf("malformed, unknown version, unknown kind = %d, %d, %d; want 3, 1, 1", s.Malformed, s.UnknownVersion, s.UnknownKind)
	}
}
