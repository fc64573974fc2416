package cluster

import (
	"cmp"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	gocmp "github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/hashicorp/memberlist"
	"github.com/proxywhirl/retrycoord/internal/testutil"
	"github.com/proxywhirl/retrycoord/state"
)

// badCounters are the Stats counters bad input may move.
type badCounters struct{ Malformed, UnknownVersion, UnknownKind, RecordsChanged uint64 }

func badCountersOf(s Stats) badCounters {
	return badCounters{s.Malformed, s.UnknownVersion, s.UnknownKind, s.RecordsChanged}
}

// sortedSnapshot is the table's snapshot in a stable order.
func sortedSnapshot(tb *state.Table) []state.Record {
	recs := tb.Snapshot()
	slices.SortFunc(recs, func(a, b state.Record) int {
		return cmp.Or(cmp.Compare(a.Kind, b.Kind), strings.Compare(a.Upstream, b.Upstream))
	})
	return recs
}

// TestGossipBadInput sends a live node, over real memberlist UDP and TCP
// from another member, every kind of bad message: truncated, oversized,
// wrong version, unknown kind and random bytes. Each is counted in the
// receiver's Stats under its own counter, nothing crashes, the table is
// unchanged, and a valid trip afterwards still propagates.
func TestGossipBadInput(t *testing.T) {
	ms := startCluster(t, 2, clusterOpts{})
	sender, target := ms[0], ms[1]
	ml := sender.node.ml.Load()
	var to *memberlist.Node
	for _, m := range ml.Members() {
		if m.Name == target.node.Name() {
			to = m
		}
	}
	// A record on both nodes, whose change would show in the snapshot.
	sender.tb.Trip("http://10.0.1.1:80", time.Hour, "before the bad input")
	testutil.Eventually(t, 5*time.Second, "the first trip", func() bool { return target.tb.State("http://10.0.1.1:80") == state.PhaseOpen })

	valid := encodeRecords([]state.Record{{Kind: state.KindBreaker, Upstream: "http://10.0.1.2:80", Gen: 3,
		Phase: state.PhaseOpen, HLC: sender.tb.Clock().Now(), Origin: sender.node.Name(), OpenFor: time.Hour, Reason: "r"}})
	rng := rand.New(rand.NewPCG(8, 8))
	random := func(n int, first byte) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		b[0] = first
		return b
	}
	// Random bytes behind a valid header: checked to be malformed below,
	// so that the seed, not luck, decides the case.
	randomBody := append(appendHeader(nil, msgRecords, codecV1), random(300, 1)...)
	unknownRecord := state.AppendRecord(appendHeader(nil, msgRecords, codecV1), state.Record{Kind: 9, Upstream: "http://10.0.1.3:80", Gen: 1, Phase: state.PhaseOpen, HLC: 1, Origin: "x"})
	bigKey := encodeRecords(nil)
	bigKey = state.AppendRecord(bigKey, state.Record{Kind: state.KindBreaker, Upstream: "http://" + strings.Repeat("h", state.MaxKeyLen) + ":1", Gen: 1, Phase: state.PhaseOpen, Origin: "x"})
	bigValue := appendHeader(nil, msgRecords, codecV1)
	bigValue = append(bigValue, byte(state.KindPool))
	bigValue = appendString(bigValue, "http://10.0.1.4:80")
	bigValue = append(bigValue, 1, byte(state.PhaseClosed), 1)
	bigValue = appendString(bigValue, "x")
	bigValue = append(bigValue, 0)
	bigValue = appendString(bigValue, "")
	bigValue = append(bigValue, 0)
	bigValue = appendString(bigValue, strings.Repeat("v", state.MaxValueLen+1))

	tests := []struct {
		name     string
		msg      []byte
		reliable bool // TCP (SendReliable) instead of UDP
		want     badCounters
	}{
		{name: "one byte", msg: []byte{byte(msgRecords)}, want: badCounters{Malformed: 1}},
		{name: "truncated record", msg: valid[:len(valid)-3], want: badCounters{Malformed: 1}},
		{name: "truncated varint", msg: append(appendHeader(nil, msgRecords, codecV1), 1, 0x80), want: badCounters{Malformed: 1}},
		{name: "truncated evidence", msg: appendString(appendHeader(nil, msgEvidence, codecVersion), "n")[:3], want: badCounters{Malformed: 1}},
		{name: "evidence without origin", msg: appendHeader(nil, msgEvidence, codecVersion), want: badCounters{Malformed: 1}},
		{name: "length beyond the message", msg: append(appendHeader(nil, msgRecords, codecV1), 1, 0xff, 0xff, 0xff, 0xff, 0x0f), want: badCounters{Malformed: 1}},
		{name: "key over the bound", msg: bigKey, want: badCounters{Malformed: 1}},
		{name: "value over the bound", msg: bigValue, reliable: true, want: badCounters{Malformed: 1}},
		{name: "too many buckets", msg: append(appendString(appendString(appendHeader(nil, msgEvidence, codecVersion), "a"), "u"), 0, 200), want: badCounters{Malformed: 1}},
		{name: "bad flags", msg: func() []byte { b := slices.Clone(valid); b[len(b)-2] = 0x80; return b }(), want: badCounters{Malformed: 1}},
		{name: "version 0", msg: append([]byte{byte(msgRecords), 0}, valid[2:]...), want: badCounters{UnknownVersion: 1}},
		{name: "version 3", msg: append([]byte{byte(msgRecords), 3}, valid[2:]...), want: badCounters{UnknownVersion: 1}},
		{name: "version 255 evidence", msg: []byte{byte(msgEvidence), 255, 1, 'n'}, want: badCounters{UnknownVersion: 1}},
		{name: "kind 0", msg: append([]byte{0, codecVersion}, valid[2:]...), want: badCounters{UnknownKind: 1}},
		{name: "kind 42", msg: []byte{42, codecVersion, 1, 2, 3}, want: badCounters{UnknownKind: 1}},
		{name: "unknown record kind", msg: unknownRecord, want: badCounters{UnknownKind: 1}},
		{name: "random bytes", msg: random(512, 0xa5), want: badCounters{UnknownKind: 1}},
		{name: "random bytes over TCP", msg: random(64<<10, 0xfe), reliable: true, want: badCounters{UnknownKind: 1}},
		{name: "random body", msg: randomBody, want: badCounters{Malformed: 1}},
	}
	if _, err := decode(randomBody); err != errMalformed {
		t.Fatalf("the random body decodes as %v; pick another seed", err)
	}
	want := sortedSnapshot(target.tb)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := badCountersOf(target.node.Stats())
			send := ml.SendBestEffort
			if tt.reliable {
				send = ml.SendReliable
			}
			if err := send(to, tt.msg); err != nil {
				t.Fatal(err)
			}
			wantC := badCounters{before.Malformed + tt.want.Malformed, before.UnknownVersion + tt.want.UnknownVersion,
				before.UnknownKind + tt.want.UnknownKind, before.RecordsChanged}
			testutil.Eventually(t, 5*time.Second, "the counter", func() bool {
				c := badCountersOf(target.node.Stats())
				return c.Malformed+c.UnknownVersion+c.UnknownKind >= wantC.Malformed+wantC.UnknownVersion+wantC.UnknownKind
			})
			if got := badCountersOf(target.node.Stats()); got != wantC {
				t.Errorf("counters = %+v, want %+v", got, wantC)
			}
			// OpenFor is the time left, which goes down by itself.
			if diff := gocmp.Diff(want, sortedSnapshot(target.tb), cmpopts.IgnoreFields(state.Record{}, "OpenFor")); diff != "" {
				t.Errorf("the table changed (-before +after):\n%s", diff)
			}
		})
	}
	t.Run("empty message through the delegate", func(t *testing.T) {
		before := target.node.Stats().Malformed
		(*delegate)(target.node).NotifyMsg(nil)
		if got := target.node.Stats().Malformed; got != before+1 {
			t.Errorf("Malformed = %d, want %d", got, before+1)
		}
	})

	// The node still works: a valid trip after all that propagates.
	sender.tb.Trip("http://10.0.1.9:80", time.Hour, "after the bad input")
	testutil.Eventually(t, 5*time.Second, "a valid trip after the bad input", func() bool {
		return target.tb.State("http://10.0.1.9:80") == state.PhaseOpen
	})
	if got := target.tb.State("http://10.0.1.4:80"); got != state.PhaseClosed {
		t.Errorf("the oversized pool fact left a state: %v", got)
	}
}
