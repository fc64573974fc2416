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

// codecVersion is the first byte of every encoded record. Versions are
// append-only: a reader drops (and counts) a version it does not know.
const codecVersion = 1

// Bounds on decoded lengths, so that a corrupt value cannot make a reader
// allocate without limit.
const (
	maxKeyLen   = 4 << 10 // upstream, origin
	maxTextLen  = 4 << 10 // reason
	maxValueLen = 1 << 20 // fact payloads
)

var errCodec = errors.New("redisledger: invalid record encoding")

// encodeRecord appends the versioned binary encoding of r to dst:
//
//	version(1) kind(1) phase(1) flags(1) uvarint(gen) uvarint(hlc)
//	varint(openFor ns) then upstream, origin, reason and value, each as
//	uvarint(len) followed by the bytes.
func encodeRecord(dst []byte, r state.Record) []byte {
	kind := r.Kind
	if kind == 0 {
		kind = state.KindBreaker
	}
	var flags byte
	if r.Deleted {
		flags |= 1
	}
	dst = append(dst, codecVersion, byte(kind), byte(r.Phase), flags)
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

// decodeRecord decodes what encodeRecord wrote. It returns an error, never
// panics, for anything else: an unknown version or kind, a truncated value,
// trailing bytes, or lengths beyond the bounds.
func decodeRecord(b []byte) (state.Record, error) {
	var r state.Record
	if len(b) < 4 {
		return r, fmt.Errorf("%w: %d bytes", errCodec, len(b))
	}
	if b[0] != codecVersion {
		return r, fmt.Errorf("%w: unknown version %d", errCodec, b[0])
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
	r.OpenFor = time.Duration(d.varint())
	r.Upstream = string(d.bytes(maxKeyLen))
	r.Origin = string(d.bytes(maxKeyLen))
	r.Reason = string(d.bytes(maxTextLen))
	if v := d.bytes(maxValueLen); len(v) > 0 {
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
