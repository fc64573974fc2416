package redisledger

import (
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/proxywhirl/retrycoord/state"
)

// The stored form of a record: a version byte, then the record body of
// package state (state.AppendRecord), with nothing after it. Versions are
// append-only: a reader drops (and counts) a version it does not know.
//
//	version 3: 3 body, the body perhaps with a site (a pair's or a site's breaker)
//	version 2: 2 body, never with a site
//	version 1: 1 kind phase flags uvarint(gen) uvarint(hlc) varint(openFor ns)
//	           then upstream, origin, reason and value, each uvarint(len) bytes
//
// Version 1, this package's own encoding before the body moved to state, is
// still read, so that a ledger written by an older node loads; it is never
// written.
const (
	codecV1      = 1
	codecV2      = 2
	codecVersion = 3
)

var errCodec = errors.New("redisledger: invalid record encoding")

// encodeRecord appends the stored form of r to dst.
// A record without a site is written in version 2, which nodes that
// predate sites read; one with a site in version 3, which they skip.
func encodeRecord(dst []byte, r state.Record) []byte {
	v := byte(codecV2)
	if r.HasSite() {
		v = codecVersion
	}
	return state.AppendRecord(append(dst, v), r)
}

// decodeRecord decodes what encodeRecord (or a version 1 writer) wrote. It
// returns an error, never panics, for anything else: an unknown version or
// kind, a truncated value, trailing bytes, or lengths beyond the bounds of
// package state.
func decodeRecord(b []byte) (state.Record, error) {
	if len(b) == 0 {
		return state.Record{}, fmt.Errorf("%w: empty", errCodec)
	}
	switch b[0] {
	case codecVersion, codecV2:
		r, rest, err := state.DecodeRecord(b[1:])
		if err != nil {
			return state.Record{}, fmt.Errorf("%w: %w", errCodec, err)
		}
		if len(rest) != 0 {
			return state.Record{}, fmt.Errorf("%w: %d trailing bytes", errCodec, len(rest))
		}
		if b[0] == codecV2 && r.HasSite() {
			return state.Record{}, fmt.Errorf("%w: a site in version 2", errCodec)
		}
		return r, nil
	case codecV1:
		return decodeV1(b)
	}
	return state.Record{}, fmt.Errorf("%w: unknown version %d", errCodec, b[0])
}

// decodeV1 reads the version 1 form, with the bounds of package state.
func decodeV1(b []byte) (state.Record, error) {
	var r state.Record
	if len(b) < 4 {
		return r, fmt.Errorf("%w: %d bytes", errCodec, len(b))
	}
	r.Kind = state.Kind(b[1])
	if r.Kind < state.KindBreaker || r.Kind > state.KindPolicy {
		return r, fmt.Errorf("%w: unknown kind %d", errCodec, b[1])
	}
	r.Phase = state.Phase(b[2])
	if b[3]&^1 != 0 {
		return r, fmt.Errorf("%w: unknown flags %#x", errCodec, b[3])
	}
	r.Deleted = b[3]&1 != 0
	d := decoder{b: b[4:]}
	r.Gen = d.uvarint()
	r.HLC = state.HLC(d.uvarint())
	r.OpenFor = max(0, time.Duration(d.varint())) // as state.DecodeRecord reads it
	r.Upstream = string(d.bytes(state.MaxKeyLen))
	r.Origin = string(d.bytes(state.MaxOriginLen))
	r.Reason = string(d.bytes(state.MaxReasonLen))
	if v := d.bytes(state.MaxValueLen); len(v) > 0 {
		r.Value = append([]byte(nil), v...)
	}
	if d.err != nil {
		return state.Record{}, d.err
	}
	if len(d.b) != 0 {
		return state.Record{}, fmt.Errorf("%w: %d trailing bytes", errCodec, len(d.b))
	}
	return r, nil
}

// decoder reads the version 1 form, remembering the first error.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.err = fmt.Errorf("%w: bad uvarint", errCodec)
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) varint() int64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.err = fmt.Errorf("%w: bad varint", errCodec)
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) bytes(limit int) []byte {
	n := d.uvarint()
	if d.err != nil {
		return nil
	}
	if n > uint64(limit) || n > uint64(len(d.b)) {
		d.err = fmt.Errorf("%w: length %d out of bounds", errCodec, n)
		return nil
	}
	v := d.b[:n]
	d.b = d.b[n:]
	return v
}

// compareKey returns the string the ledger's compare-and-set orders records
// of one key by: Gen and HLC as 16 hex digits, Phase as 2, then the Origin
// hex-encoded, so that comparing the strings byte by byte compares
// (Gen, Phase, HLC, Origin) lexicographically — the same order as
// state.Compare on those fields. Lua numbers are doubles, so 64-bit values
// never reach the script as numbers.
func compareKey(r state.Record) string {
	b := make([]byte, 0, 34+2*len(r.Origin))
	b = appendHex(b, r.Gen, 16)
	b = appendHex(b, uint64(r.Phase), 2)
	b = appendHex(b, uint64(r.HLC), 16)
	b = hex.AppendEncode(b, []byte(r.Origin))
	return string(b)
}

func appendHex(b []byte, v uint64, width int) []byte {
	s := strconv.FormatUint(v, 16)
	for range width - len(s) {
		b = append(b, '0')
	}
	return append(b, s...)
}
