package cluster

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/proxywhirl/retrycoord/state"
)

var sampleRecords = []state.Record{
	{Kind: state.KindBreaker, Upstream: "http://10.0.0.1:8080", Gen: 7, Phase: state.PhaseOpen,
		HLC: state.NewHLC(1_700_000_000_000, 3), Origin: "node-a", OpenFor: 30 * time.Second, Reason: "failure threshold reached"},
	{Kind: state.KindBreaker, Upstream: "http://10.0.0.2:8080", Gen: 1, Phase: state.PhaseClosed, HLC: 9, Origin: "node-b"},
	{Kind: state.KindPool, Upstream: "socks5://10.0.0.3:1080", HLC: 11, Origin: "node-c", Value: []byte(`{"region":"eu"}`)},
	{Kind: state.KindPool, Upstream: "socks5://10.0.0.4:1080", HLC: 12, Origin: "node-c", Deleted: true},
	{Kind: state.KindPolicy, HLC: 13, Origin: "node-a", Value: []byte("breaker:\n  failure_threshold: 5\n")},
	{Kind: state.KindBreaker, Upstream: "http://10.0.0.9:8080", Site: "example.com", Gen: 2, Phase: state.PhaseOpen, HLC: 3, Origin: "node-b", Reason: "failure threshold reached"},
	{Kind: state.KindBreaker, Site: "example.org", Gen: 1, Phase: state.PhaseOpen, HLC: 4, Origin: "node-b", Reason: "failing through 5 proxies"},
}

var sampleEvidence = []state.Evidence{
	{Upstream: "http://10.0.0.1:8080", Gen: 7, Buckets: []state.EvidenceBucket{{Index: -1, Failures: 2}, {Index: 28_000_000, Failures: 4_000_000_000}}},
	{Upstream: "http://10.0.0.2:8080", Gen: 0, Buckets: []state.EvidenceBucket{{Index: 5, Failures: 1}}},
	{Upstream: "http://10.0.0.2:8080", Site: "a.com", Gen: 1, Buckets: []state.EvidenceBucket{{Index: 6, Failures: 2, Calls: 9}}},
	{Site: "b.com", Buckets: []state.EvidenceBucket{{Index: 7, Failures: 3, Calls: 3}}},
}

// TestCodecVersions: a records message is version 1 (what nodes before
// sites read) unless a record in it has a site; a version 1 message with
// a site is malformed; version 1 evidence reads with calls = failures.
func TestCodecVersions(t *testing.T) {
	proxyOnly := state.Record{Upstream: "http://10.0.0.1:8080", Gen: 1, Phase: state.PhaseOpen, HLC: 1, Origin: "a"}
	pair := proxyOnly
	pair.Site = "a.com"
	if v := encodeRecords([]state.Record{proxyOnly})[1]; v != codecV1 {
		t.Errorf("proxy records: version %d, want %d", v, codecV1)
	}
	msg := encodeRecords([]state.Record{proxyOnly, pair})
	if v := msg[1]; v != codecVersion {
		t.Errorf("records with a pair: version %d, want %d", v, codecVersion)
	}
	packets, _ := packRecords([]state.Record{proxyOnly, pair}, PacketBudget)
	if len(packets) != 1 || packets[0][1] != codecVersion {
		t.Errorf("packRecords: %d packets, version %d; want 1, %d", len(packets), packets[0][1], codecVersion)
	}
	msg[1] = codecV1
	if _, err := decode(msg); err != errMalformed {
		t.Errorf("a site in version 1 decodes with %v, want errMalformed", err)
	}
	v1 := appendString(appendHeader(nil, msgEvidence, codecV1), "n")
	v1 = appendString(v1, "u")
	v1 = append(v1, 0, 1, 8, 4) // gen 0, one bucket: index 4, failures 4
	m, err := decode(v1)
	if err != nil {
		t.Fatal(err)
	}
	want := []state.Evidence{{Upstream: "u", Buckets: []state.EvidenceBucket{{Index: 4, Failures: 4, Calls: 4}}}}
	if diff := cmp.Diff(want, m.evidence); diff != "" {
		t.Errorf("version 1 evidence (-want +got):\n%s", diff)
	}
}

func TestCodecRoundTrip(t *testing.T) {
	got, err := decode(encodeRecords(sampleRecords))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(sampleRecords, got.records); diff != "" {
		t.Errorf("records (-want +got):\n%s", diff)
	}
	packets := packEvidence("node-a", sampleEvidence, PacketBudget)
	if len(packets) != 1 {
		t.Fatalf("packEvidence: %d packets, want 1", len(packets))
	}
	ev, err := decode(packets[0])
	if err != nil {
		t.Fatal(err)
	}
	if ev.origin != "node-a" {
		t.Errorf("origin = %q, want node-a", ev.origin)
	}
	if diff := cmp.Diff(sampleEvidence, ev.evidence); diff != "" {
		t.Errorf("evidence (-want +got):\n%s", diff)
	}
}

func TestPackRecordsRespectsBudget(t *testing.T) {
	var recs []state.Record
	for i := range 200 {
		r := sampleRecords[0]
		r.Upstream = "http://10.0.0.1:" + strings.Repeat("9", i%7+1)
		recs = append(recs, r)
	}
	huge := state.Record{Kind: state.KindPolicy, HLC: 1, Origin: "a", Value: bytes.Repeat([]byte("x"), 5000)}
	recs = append(recs, huge)
	packets, big := packRecords(recs, PacketBudget)
	var got []state.Record
	for _, p := range packets {
		if len(p) > PacketBudget {
			t.Errorf("packet of %d bytes exceeds budget %d", len(p), PacketBudget)
		}
		m, err := decode(p)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, m.records...)
	}
	if diff := cmp.Diff(recs[:200], got); diff != "" {
		t.Errorf("records (-want +got):\n%s", diff)
	}
	if len(big) != 1 || len(big[0].Value) != 5000 {
		t.Errorf("big = %d records, want the 5000-byte policy", len(big))
	}
}

func TestDecodeRejects(t *testing.T) {
	valid := encodeRecords(sampleRecords[:1])
	unknownRecord := appendHeader(nil, msgRecords, codecV1)
	r := sampleRecords[1]
	r.Kind = 99
	unknownRecord = state.AppendRecord(unknownRecord, r)
	for _, tc := range []struct {
		name string
		buf  []byte
		want error
	}{
		{"empty", nil, errMalformed},
		{"header only kind", []byte{1}, errMalformed},
		{"unknown kind", []byte{9, 1, 0}, errUnknownKind},
		{"zero kind", []byte{0, 1}, errUnknownKind},
		{"unknown version", []byte{1, 3, 0}, errUnknownVersion},
		{"truncated", valid[:len(valid)-3], errMalformed},
		{"oversized string", append(appendHeader(nil, msgRecords, codecV1), 1, 0xff, 0xff, 0xff, 0xff, 0x0f), errMalformed},
		{"bad flags", func() []byte { b := encodeRecords(sampleRecords[1:2]); b[len(b)-2] = 0x80; return b }(), errMalformed},
		{"evidence without origin", appendHeader(nil, msgEvidence, codecVersion), errMalformed},
		{"too many buckets", append(appendString(appendString(appendHeader(nil, msgEvidence, codecVersion), "a"), "u"), 0, 200), errMalformed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := decode(tc.buf); !errors.Is(err, tc.want) {
				t.Errorf("decode = %v, want %v", err, tc.want)
			}
		})
	}
	t.Run("unknown record kind skipped", func(t *testing.T) {
		m, err := decode(unknownRecord)
		if err != nil || m.unknown != 1 || len(m.records) != 0 {
			t.Errorf("decode = %d records, %d unknown, %v; want 0, 1, nil", len(m.records), m.unknown, err)
		}
	})
}

func FuzzDecode(f *testing.F) {
	f.Add(encodeRecords(sampleRecords))
	for _, p := range packEvidence("n", sampleEvidence, PacketBudget) {
		f.Add(p)
	}
	f.Add([]byte{1, 1, 1})
	f.Add([]byte{2, 1, 1, 'a', 0, 0, 1})
	f.Fuzz(func(t *testing.T, buf []byte) {
		m, err := decode(buf)
		if err != nil {
			return
		}
		// What decodes re-encodes to something that decodes the same.
		var again []byte
		switch m.kind {
		case msgRecords:
			again = encodeRecords(m.records)
		case msgEvidence:
			again = appendString(appendHeader(nil, msgEvidence, codecVersion), m.origin)
			for _, ev := range m.evidence {
				again = appendEvidence(again, ev)
			}
		case msgBudget:
			again = appendString(appendHeader(nil, msgBudget, budgetVersion), m.origin)
			for _, c := range m.budget {
				again = appendBudgetCount(again, c)
			}
		case msgLatency:
			again = appendString(appendHeader(nil, msgLatency, budgetVersion), m.origin)
			for _, sk := range m.latency {
				again = appendSketch(again, sk)
			}
		}
		m2, err := decode(again)
		if err != nil {
			t.Fatalf("re-decode: %v", err)
		}
		m.unknown = 0
		if diff := cmp.Diff(m, m2, cmp.AllowUnexported(message{}), cmpopts.EquateEmpty()); diff != "" {
			t.Fatalf("round trip (-first +second):\n%s", diff)
		}
	})
}
