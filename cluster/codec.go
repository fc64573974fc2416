package cluster

import (
	"encoding/binary"
	"errors"
	"math"

	"github.com/proxywhirl/retrycoord/state"
)

// The wire format of every message: a kind byte and a version byte, then the
// body. All integers are varints; every length is bounded before anything is
// allocated.
//
//	records  (kind 1, version 1 or 2): record*           until the end of the message
//	evidence (kind 2, version 1 or 2): origin evidence*  until the end of the message
//
//	record:   the record body of package state (state.AppendRecord); in
//	          version 1 never with a site, in version 2 perhaps with one
//	evidence: version 1: upstream:str gen:uvarint nbuckets:uvarint (index:varint failures:uvarint)*
//	          version 2: upstream:str site:str gen:uvarint nbuckets:uvarint
//	                     (index:varint failures:uvarint calls:uvarint)*
//	str, bytes: length:uvarint, then that many bytes
//
// A records message is written in version 1 unless one of its records has
// a site (a pair's or a site's breaker), so that nodes that predate sites
// still read every proxy's record and skip (and count) the rest. Evidence is
// written in version 2; version 1 evidence is read with its calls equal to
// its failures.

// msgKind is the first byte of a message. Kinds are wire values: they start
// at 1 and are append-only.
type msgKind uint8

const (
	msgRecords  msgKind = 1 // a batch of records
	msgEvidence msgKind = 2 // one node's failure evidence
)

// Message versions this codec reads; it writes the lowest that can carry a
// message.
const (
	codecV1      = 1 // records without sites; evidence without sites or calls
	codecVersion = 2 // records with sites; evidence with sites and calls
)

// recordsVersion is the version of a records message holding r.
func recordsVersion(r state.Record) byte {
	if r.HasSite() {
		return codecVersion
	}
	return codecV1
}

// PacketBudget is the largest message sent by UDP, in bytes: what fits in
// memberlist's 1,400-byte packets after its own framing and AES-GCM
// encryption.
const PacketBudget = 1366

// Bounds on what a message may carry, beyond the record bounds of package
// state. A message exceeding any of them is malformed.
const (
	maxRecords     = 1 << 20 // records in one message (push/pull carries the whole table)
	maxEvidence    = 1 << 16 // evidence entries in one message
	maxBuckets     = 128     // buckets in one evidence entry (a window has 61)
	headerLen      = 2
	evidenceMaxLen = 16 << 20 // whole evidence message, bytes
)

// Decoding errors. Each is counted separately in Stats.
var (
	errMalformed      = errors.New("cluster: malformed message")
	errUnknownKind    = errors.New("cluster: unknown message kind")
	errUnknownVersion = errors.New("cluster: unknown message version")
)

// message is a decoded message.
type message struct {
	kind     msgKind
	records  []state.Record // msgRecords
	unknown  int            // records of a kind this node does not know, skipped
	origin   string         // msgEvidence
	evidence []state.Evidence
	budget   []state.BudgetCount   // msgBudget
	latency  []state.LatencySketch // msgLatency
}

// appendHeader starts a message.
func appendHeader(dst []byte, k msgKind, version byte) []byte {
	return append(dst, byte(k), version)
}

func appendString(dst []byte, s string) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(s)))
	return append(dst, s...)
}

// encodeRecords returns one records message holding every record.
func encodeRecords(recs []state.Record) []byte {
	buf := appendHeader(make([]byte, 0, 64*len(recs)+headerLen), msgRecords, codecV1)
	for _, r := range recs {
		if r.Fits() {
			buf = state.AppendRecord(buf, r)
			buf[1] = max(buf[1], recordsVersion(r))
		}
	}
	return buf
}

// packRecords splits records into messages of at most budget bytes each. A
// record too large for any packet on its own is returned in big, for a
// reliable send.
func packRecords(recs []state.Record, budget int) (packets [][]byte, big []state.Record) {
	var cur []byte
	var one []byte
	for _, r := range recs {
		if !r.Fits() {
			continue
		}
		one = state.AppendRecord(one[:0], r)
		if headerLen+len(one) > budget {
			big = append(big, r)
			continue
		}
		if cur != nil && len(cur)+len(one) > budget {
			packets = append(packets, cur)
			cur = nil
		}
		if cur == nil {
			cur = appendHeader(make([]byte, 0, budget), msgRecords, codecV1)
		}
		cur = append(cur, one...)
		cur[1] = max(cur[1], recordsVersion(r))
	}
	if cur != nil {
		packets = append(packets, cur)
	}
	return packets, big
}

// appendEvidence appends one evidence entry, at most maxBuckets buckets
// (the newest).
func appendEvidence(dst []byte, ev state.Evidence) []byte {
	bs := ev.Buckets
	if len(bs) > maxBuckets {
		bs = bs[len(bs)-maxBuckets:]
	}
	dst = appendString(dst, ev.Upstream)
	dst = appendString(dst, ev.Site)
	dst = binary.AppendUvarint(dst, ev.Gen)
	dst = binary.AppendUvarint(dst, uint64(len(bs)))
	for _, b := range bs {
		dst = binary.AppendVarint(dst, b.Index)
		dst = binary.AppendUvarint(dst, uint64(b.Failures))
		dst = binary.AppendUvarint(dst, uint64(b.Calls))
	}
	return dst
}

// packEvidence splits evidence into messages of at most budget bytes, each
// starting with the origin.
func packEvidence(origin string, evs []state.Evidence, budget int) [][]byte {
	var packets [][]byte
	var cur, one []byte
	start := func() []byte {
		return appendString(appendHeader(make([]byte, 0, budget), msgEvidence, codecVersion), origin)
	}
	for _, ev := range evs {
		if len(ev.Upstream) > state.MaxKeyLen || len(ev.Site) > state.MaxSiteLen {
			continue
		}
		one = appendEvidence(one[:0], ev)
		if cur != nil && len(cur)+len(one) > budget {
			packets = append(packets, cur)
			cur = nil
		}
		if cur == nil {
			cur = start()
		}
		cur = append(cur, one...) // one entry over budget goes alone
	}
	if cur != nil {
		packets = append(packets, cur)
	}
	return packets
}

// decoder reads a message body, remembering the first error.
type decoder struct {
	buf []byte
	err error
}

func (d *decoder) fail() {
	if d.err == nil {
		d.err = errMalformed
	}
	d.buf = nil
}

func (d *decoder) uvarint() uint64 {
	v, n := binary.Uvarint(d.buf)
	if n <= 0 {
		d.fail()
		return 0
	}
	d.buf = d.buf[n:]
	return v
}

func (d *decoder) varint() int64 {
	v, n := binary.Varint(d.buf)
	if n <= 0 {
		d.fail()
		return 0
	}
	d.buf = d.buf[n:]
	return v
}

func (d *decoder) bytes(limit int) []byte {
	n := d.uvarint()
	if d.err != nil || n > uint64(limit) || n > uint64(len(d.buf)) {
		d.fail()
		return nil
	}
	b := d.buf[:n:n]
	d.buf = d.buf[n:]
	return b
}

func (d *decoder) string(limit int) string { return string(d.bytes(limit)) }

// decode parses a message. Strings and values are copied: the result does
// not alias buf.
func decode(buf []byte) (message, error) {
	if len(buf) < headerLen {
		return message{}, errMalformed
	}
	m := message{kind: msgKind(buf[0])}
	version := buf[1]
	switch m.kind {
	case msgRecords, msgEvidence:
		if version != codecV1 && version != codecVersion {
			return message{}, errUnknownVersion
		}
	case msgBudget, msgLatency:
		if version != budgetVersion {
			return message{}, errUnknownVersion
		}
	default:
		return message{}, errUnknownKind
	}
	d := &decoder{buf: buf[headerLen:]}
	switch m.kind {
	case msgBudget, msgLatency:
		if len(buf) > evidenceMaxLen {
			return message{}, errMalformed
		}
		decodeBudgetBody(d, &m)
	case msgRecords:
		for len(d.buf) > 0 && d.err == nil {
			if len(m.records)+m.unknown >= maxRecords {
				d.fail()
				break
			}
			r, rest, err := state.DecodeRecord(d.buf)
			d.buf = rest
			switch {
			case errors.Is(err, state.ErrUnknownKind):
				m.unknown++
				continue
			case err != nil:
				d.fail()
				continue
			}
			if version == codecV1 && r.HasSite() {
				d.fail() // a site in a version that has none
				continue
			}
			m.records = append(m.records, r)
		}
	case msgEvidence:
		if len(buf) > evidenceMaxLen {
			return message{}, errMalformed
		}
		m.origin = d.string(state.MaxOriginLen)
		if d.err == nil && m.origin == "" {
			d.fail()
		}
		for len(d.buf) > 0 && d.err == nil {
			if len(m.evidence) >= maxEvidence {
				d.fail()
				break
			}
			ev := decodeEvidence(d, version)
			if d.err == nil {
				m.evidence = append(m.evidence, ev)
			}
		}
	}
	if d.err != nil {
		return message{}, d.err
	}
	return m, nil
}

func decodeEvidence(d *decoder, version byte) state.Evidence {
	var ev state.Evidence
	ev.Upstream = d.string(state.MaxKeyLen)
	per := uint64(2) // bytes per bucket, at least
	if version >= codecVersion {
		ev.Site = d.string(state.MaxSiteLen)
		per = 3
	}
	ev.Gen = d.uvarint()
	n := d.uvarint()
	if d.err != nil || n > maxBuckets || n > uint64(len(d.buf))/per {
		d.fail()
		return state.Evidence{}
	}
	if n > 0 {
		ev.Buckets = make([]state.EvidenceBucket, 0, n)
	}
	for range n {
		idx := d.varint()
		f := d.uvarint()
		c := f
		if version >= codecVersion {
			c = d.uvarint()
		}
		if f > math.MaxUint32 || c > math.MaxUint32 {
			d.fail()
		}
		if d.err != nil {
			return state.Evidence{}
		}
		ev.Buckets = append(ev.Buckets, state.EvidenceBucket{Index: idx, Failures: uint32(f), Calls: uint32(c)})
	}
	return ev
}
