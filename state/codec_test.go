package state

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

var codecSamples = []Record{
	{Kind: KindBreaker, Upstream: "http://10.0.0.1:8080", Gen: 7, Phase: PhaseOpen,
		HLC: NewHLC(1_700_000_000_000, 3), Origin: "node-a", OpenFor: 30 * time.Second, Reason: "failure threshold reached"},
	{Kind: KindBreaker, Upstream: "u", Gen: 1<<64 - 1, Phase: PhaseClosed, HLC: 1<<64 - 1, Origin: "n"},
	{Kind: KindPool, Upstream: "socks5://10.0.0.3:1080", HLC: 11, Origin: "node-c", Value: []byte(`{"region":"eu"}`)},
	{Kind: KindPool, Upstream: "socks5://10.0.0.4:1080", HLC: 12, Origin: "node-c", Deleted: true},
	{Kind: KindPolicy, HLC: 13, Origin: "node-a", Value: []byte("breaker:\n  failure_threshold: 5\n")},
	// A pair and a site.
	{Kind: KindBreaker, Upstream: "http://10.0.0.1:8080", Site: "example.com", Gen: 2, Phase: PhaseOpen, HLC: 14, Origin: "node-b"},
	{Kind: KindBreaker, Site: "example.org", Gen: 3, Phase: PhaseHalfOpen, HLC: 15, Origin: "node-b", Reason: "failing through 5 proxies"},
	// At every bound at once.
	{Kind: KindBreaker, Upstream: strings.Repeat("k", MaxKeyLen), Phase: PhaseOpen, Origin: strings.Repeat("o", MaxOriginLen),
		Reason: strings.Repeat("r", MaxReasonLen), Site: strings.Repeat("s", MaxSiteLen)},
}

// TestRecordCodecSiteVersioned: a record without a site encodes as it did
// before sites (flags 0, nothing after the value), so that older readers
// read it; one with a site sets flag 2, which they reject; a site field
// that is present but empty, or over MaxSiteLen, does not decode.
func TestRecordCodecSiteVersioned(t *testing.T) {
	r := Record{Kind: KindBreaker, Upstream: "u", Gen: 1, Phase: PhaseOpen, HLC: 2, Origin: "o"}
	old := []byte{1, 1, 'u', 1, 1, 2, 1, 'o', 0, 0, 0, 0}
	if got := AppendRecord(nil, r); !bytes.Equal(got, old) {
		t.Errorf("without a site: % x, want % x (the encoding before sites)", got, old)
	}
	r.Site = "s.com"
	withSite := AppendRecord(nil, r)
	if want := append(append(old[:len(old)-2:len(old)-2], 2, 0), 5, 's', '.', 'c', 'o', 'm'); !bytes.Equal(withSite, want) {
		t.Errorf("with a site: % x, want % x", withSite, want)
	}
	empty := append(old[:len(old)-2:len(old)-2], 2, 0, 0)
	if _, _, err := DecodeRecord(empty); !errors.Is(err, ErrMalformed) {
		t.Errorf("an empty site decodes with %v, want ErrMalformed", err)
	}
	r.Site = strings.Repeat("s", MaxSiteLen+1)
	if r.Fits() {
		t.Errorf("a site over MaxSiteLen fits")
	}
	if _, _, err := DecodeRecord(AppendRecord(nil, r)); !errors.Is(err, ErrMalformed) {
		t.Errorf("a site over MaxSiteLen decodes with %v, want ErrMalformed", err)
	}
}

func TestRecordCodecRoundTrip(t *testing.T) {
	var buf []byte
	for _, r := range codecSamples {
		if !r.Fits() {
			t.Fatalf("sample %q does not fit", r.Upstream[:min(10, len(r.Upstream))])
		}
		buf = AppendRecord(buf, r)
	}
	var got []Record
	for len(buf) > 0 {
		r, rest, err := DecodeRecord(buf)
		if err != nil {
			t.Fatal(err)
		}
		got, buf = append(got, r), rest
	}
	if diff := cmp.Diff(codecSamples, got); diff != "" {
		t.Errorf("round trip (-want +got):\n%s", diff)
	}
}

// TestRecordCodecBounds: one set of bounds, the same for Fits and the
// decoder, one byte past each; a value of exactly MaxValueLen fits and
// round-trips (the other fields at their bounds are among codecSamples).
func TestRecordCodecBounds(t *testing.T) {
	atBound := Record{Kind: KindPolicy, HLC: 16, Origin: "o", Value: bytes.Repeat([]byte("v"), MaxValueLen)}
	if !atBound.Fits() {
		t.Error("a value of MaxValueLen does not fit")
	}
	if got, _, err := DecodeRecord(AppendRecord(nil, atBound)); err != nil || !bytes.Equal(got.Value, atBound.Value) {
		t.Errorf("a value of MaxValueLen: DecodeRecord = %d bytes, %v", len(got.Value), err)
	}
	base := Record{Kind: KindBreaker, Upstream: "u", Phase: PhaseOpen, Origin: "o"}
	for _, tc := range []struct {
		name string
		edit func(*Record)
	}{
		{"upstream", func(r *Record) { r.Upstream = strings.Repeat("k", MaxKeyLen+1) }},
		{"origin", func(r *Record) { r.Origin = strings.Repeat("o", MaxOriginLen+1) }},
		{"reason", func(r *Record) { r.Reason = strings.Repeat("r", MaxReasonLen+1) }},
		{"value", func(r *Record) { r.Value = bytes.Repeat([]byte("v"), MaxValueLen+1) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := base
			tc.edit(&r)
			if r.Fits() {
				t.Error("Fits = true past the bound")
			}
			if _, _, err := DecodeRecord(AppendRecord(nil, r)); !errors.Is(err, ErrMalformed) {
				t.Errorf("DecodeRecord = %v, want ErrMalformed", err)
			}
		})
	}
}

func TestDecodeRecordRejects(t *testing.T) {
	good := AppendRecord(nil, codecSamples[0])
	unknown := codecSamples[1]
	unknown.Kind = 99
	for _, tc := range []struct {
		name string
		b    []byte
		want error
	}{
		{"empty", nil, ErrMalformed},
		{"truncated", good[:len(good)-3], ErrMalformed},
		{"huge length", []byte{1, 0xff, 0xff, 0xff, 0xff, 0x0f}, ErrMalformed},
		{"flags", func() []byte { b := AppendRecord(nil, codecSamples[1]); b[len(b)-2] = 0x80; return b }(), ErrMalformed},
		{"kind 0", append([]byte{0}, good[1:]...), ErrUnknownKind},
		{"unknown kind", AppendRecord(nil, unknown), ErrUnknownKind},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, _, err := DecodeRecord(tc.b); !errors.Is(err, tc.want) {
				t.Errorf("DecodeRecord = %v, want %v", err, tc.want)
			}
		})
	}
	t.Run("unknown kind is skippable", func(t *testing.T) {
		b := AppendRecord(AppendRecord(nil, unknown), codecSamples[0])
		_, rest, err := DecodeRecord(b)
		if !errors.Is(err, ErrUnknownKind) {
			t.Fatalf("DecodeRecord = %v, want ErrUnknownKind", err)
		}
		r, rest, err := DecodeRecord(rest)
		if err != nil || len(rest) != 0 || r.Upstream != codecSamples[0].Upstream {
			t.Fatalf("next record = %q, %d left, %v; want the sample, 0, nil", r.Upstream, len(rest), err)
		}
	})
}

func TestIsBreaker(t *testing.T) {
	for k, want := range map[Kind]bool{0: true, KindBreaker: true, KindPool: false, KindPolicy: false, 9: false} {
		if got := (Record{Kind: k}).IsBreaker(); got != want {
			t.Errorf("Record{Kind: %v}.IsBreaker() = %v, want %v", k, got, want)
		}
	}
}

func FuzzDecodeRecord(f *testing.F) {
	for _, r := range codecSamples[:5] {
		f.Add(AppendRecord(nil, r))
	}
	f.Add([]byte{})
	f.Add([]byte{1, 0, 0, 1, 0, 0, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		r, rest, err := DecodeRecord(b)
		if err != nil {
			return
		}
		if !r.Fits() {
			t.Fatalf("a decoded record does not fit the bounds")
		}
		enc := AppendRecord(nil, r)
		again, left, err := DecodeRecord(enc)
		if err != nil || len(left) != 0 {
			t.Fatalf("re-encoded record: %v, %d bytes left", err, len(left))
		}
		if diff := cmp.Diff(r, again); diff != "" {
			t.Fatalf("re-encode changed the record (-first +second):\n%s", diff)
		}
		if len(rest) > len(b) {
			t.Fatalf("rest grew")
		}
	})
}

// TestDecodeRecordEveryPrefixMalformed: every proper prefix of a record's
// encoding is malformed, including the one that stops right before the
// value's length (the last field of a record without a site).
func TestDecodeRecordEveryPrefixMalformed(t *testing.T) {
	for _, r := range codecSamples[:7] {
		b := AppendRecord(nil, r)
		for n := range len(b) {
			if got, _, err := DecodeRecord(b[:n]); !errors.Is(err, ErrMalformed) {
				t.Fatalf("%d of %d bytes of %q: %+v, %v; want ErrMalformed", n, len(b), r.Upstream, got, err)
			}
		}
	}
}
