package redisledger

import (
	"encoding/binary"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/proxywhirl/retrycoord/state"
)

func TestCodecRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		rec  state.Record
	}{
		{"open breaker", state.Record{Kind: state.KindBreaker, Upstream: "http://10.0.0.1:8080", Gen: 7,
			Phase: state.PhaseOpen, HLC: state.NewHLC(1_700_000_000_000, 3), Origin: "node-1",
			OpenFor: 30 * time.Second, Reason: "5 failures"}},
		{"max values", state.Record{Kind: state.KindBreaker, Upstream: "u", Gen: 1<<64 - 1,
			Phase: state.PhaseClosed, HLC: 1<<64 - 1, Origin: "n"}},
		{"pool fact", state.Record{Kind: state.KindPool, Upstream: "http://p:1", HLC: 9, Origin: "a",
			Value: []byte(`{"region":"eu"}`)}},
		{"tombstone", state.Record{Kind: state.KindPool, Upstream: "http://p:1", HLC: 10, Origin: "a", Deleted: true}},
		{"policy", state.Record{Kind: state.KindPolicy, HLC: 11, Origin: "a", Value: []byte("doc")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := decodeRecord(encodeRecord(nil, tt.rec))
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.rec, got); diff != "" {
				t.Errorf("round trip (-want +got):\n%s", diff)
			}
		})
	}
}

// encodeV1 is the version 1 writer that older nodes ran: what they left in
// Redis must still load.
func encodeV1(dst []byte, r state.Record) []byte {
	var flags byte
	if r.Deleted {
		flags |= 1
	}
	dst = append(dst, codecV1, byte(r.Kind), byte(r.Phase), flags)
	dst = binary.AppendUvarint(dst, r.Gen)
	dst = binary.AppendUvarint(dst, uint64(r.HLC))
	dst = binary.AppendVarint(dst, int64(r.OpenFor))
	for _, s := range [...]string{r.Upstream, r.Origin, r.Reason} {
		dst = binary.AppendUvarint(dst, uint64(len(s)))
		dst = append(dst, s...)
	}
	dst = binary.AppendUvarint(dst, uint64(len(r.Value)))
	return append(dst, r.Value...)
}

// TestDecodeVersion1: records a version 1 node wrote decode alike.
func TestDecodeVersion1(t *testing.T) {
	for _, rec := range []state.Record{
		{Kind: state.KindBreaker, Upstream: "http://10.0.0.1:8080", Gen: 7, Phase: state.PhaseOpen,
			HLC: state.NewHLC(1_700_000_000_000, 3), Origin: "node-1", OpenFor: 30 * time.Second, Reason: "5 failures"},
		{Kind: state.KindPool, Upstream: "http://p:1", HLC: 10, Origin: "a", Deleted: true},
		{Kind: state.KindPolicy, HLC: 11, Origin: "a", Value: []byte("doc")},
	} {
		got, err := decodeRecord(encodeV1(nil, rec))
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(rec, got); diff != "" {
			t.Errorf("version 1 (-want +got):\n%s", diff)
		}
	}
}

// TestLedgerBoundsAreGossipBounds: a record the ledger would hold but gossip
// could not carry is neither written nor loaded (the bounds used to differ:
// 4 KiB keys and reasons here, 2 and 1 KiB in gossip).
func TestLedgerBoundsAreGossipBounds(t *testing.T) {
	long := state.Record{Kind: state.KindBreaker, Upstream: "u", Gen: 1, Phase: state.PhaseOpen, Origin: "o",
		Reason: strings.Repeat("r", state.MaxReasonLen+1)}
	if validRecord(long) {
		t.Error("validRecord accepts a reason past state.MaxReasonLen")
	}
	if _, err := decodeRecord(encodeV1(nil, long)); err == nil {
		t.Error("a version 1 record past the bounds decodes")
	}
	long.Reason, long.Upstream = "", strings.Repeat("k", state.MaxKeyLen+1)
	if validRecord(long) {
		t.Error("validRecord accepts an upstream past state.MaxKeyLen")
	}
}

func TestDecodeRejects(t *testing.T) {
	rec := state.Record{Kind: state.KindBreaker, Upstream: "u", Gen: 1, Phase: 1, Origin: "o"}
	good := encodeRecord(nil, rec)
	v1 := encodeV1(nil, rec)
	tests := []struct {
		name string
		b    []byte
	}{
		{"empty", nil},
		{"short", good[:3]},
		{"version", append([]byte{9}, good[1:]...)},
		{"kind", append([]byte{codecVersion, 99}, good[2:]...)},
		{"truncated", good[:len(good)-2]},
		{"trailing", append(append([]byte(nil), good...), 0)},
		{"huge length", []byte{codecVersion, 1, 0xff, 0xff, 0xff, 0xff, 0x0f}},
		{"v1 short", v1[:3]},
		{"v1 kind", append([]byte{1, 99}, v1[2:]...)},
		{"v1 flags", append([]byte{1, 1, 1, 2}, v1[4:]...)},
		{"v1 truncated", v1[:len(v1)-2]},
		{"v1 trailing", append(append([]byte(nil), v1...), 0)},
		{"v1 huge length", []byte{1, 1, 1, 0, 1, 1, 0, 0xff, 0xff, 0xff, 0xff, 0x0f}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := decodeRecord(tt.b); err == nil {
				t.Errorf("decodeRecord(%x) succeeded", tt.b)
			}
		})
	}
}

// compareKey must order records exactly as state.Compare orders their
// (Gen, Phase, HLC, Origin), including 64-bit values a double cannot hold.
func TestCompareKeyOrder(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	gens := []uint64{0, 1, 2, 1 << 53, 1<<53 + 1, 1<<64 - 2, 1<<64 - 1}
	origins := []string{"", "a", "ab", "b", "node-10", "node-9", "\xff"}
	pick := func() state.Record {
		return state.Record{
			Gen:    gens[r.IntN(len(gens))],
			Phase:  state.Phase(1 + r.IntN(3)),
			HLC:    state.HLC(gens[r.IntN(len(gens))]),
			Origin: origins[r.IntN(len(origins))],
		}
	}
	for range 5000 {
		a, b := pick(), pick()
		want := state.Compare(a, b)
		got := strings.Compare(compareKey(a), compareKey(b))
		if want != got {
			t.Fatalf("compare(%+v, %+v): key order %d, state.Compare %d", a, b, got, want)
		}
	}
}

func FuzzDecodeRecord(f *testing.F) {
	f.Add(encodeRecord(nil, state.Record{Kind: state.KindBreaker, Upstream: "u", Gen: 3, Phase: 1, Origin: "o", OpenFor: time.Second}))
	f.Add(encodeRecord(nil, state.Record{Kind: state.KindPool, Upstream: "p", Value: []byte("v"), Deleted: true}))
	f.Add(encodeV1(nil, state.Record{Kind: state.KindBreaker, Upstream: "u", Gen: 3, Phase: 1, Origin: "o"}))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		rec, err := decodeRecord(b)
		if err != nil {
			return
		}
		again, err := decodeRecord(encodeRecord(nil, rec))
		if err != nil {
			t.Fatalf("re-encoded record does not decode: %v", err)
		}
		if diff := cmp.Diff(rec, again); diff != "" {
			t.Fatalf("re-encode changed the record (-first +second):\n%s", diff)
		}
	})
}

// TestCodecSiteVersion: a record without a site is stored in version 2,
// which nodes before sites read; one with a site in version 3, which they
// skip; a site in version 2 is rejected.
func TestCodecSiteVersion(t *testing.T) {
	proxy := state.Record{Kind: state.KindBreaker, Upstream: "http://10.0.0.1:80", Gen: 1, Phase: state.PhaseOpen, HLC: 1, Origin: "a"}
	pair := proxy
	pair.Site = "example.com"
	if v := encodeRecord(nil, proxy)[0]; v != codecV2 {
		t.Errorf("proxy record: version %d, want %d", v, codecV2)
	}
	b := encodeRecord(nil, pair)
	if b[0] != codecVersion {
		t.Errorf("pair record: version %d, want %d", b[0], codecVersion)
	}
	got, err := decodeRecord(b)
	if err != nil || got.Site != "example.com" {
		t.Errorf("decode: %+v, %v", got, err)
	}
	b[0] = codecV2
	if _, err := decodeRecord(b); err == nil {
		t.Errorf("a site in version 2 decodes")
	}
}
