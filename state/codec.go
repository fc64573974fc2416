package state

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"
)

// The record body: the one binary encoding of a Record, which package
// cluster frames in its messages and package redisledger stores. All
// integers are varints; every length is bounded before anything is
// allocated.
//
//	record: kind:u8 upstream:str gen:uvarint phase:u8 hlc:uvarint origin:str
//	        openFor:varint(ns) reason:str flags:u8 value:bytes [site:str]
//	flags: 1 = deleted, 2 = a site follows the value (a pair's or a site's breaker)
//	str, bytes: length:uvarint, then that many bytes
//
// The site field is versioned by its flag: a record without a site encodes
// exactly as before sites existed, so older readers still read every
// proxy's record; a reader that does not know flag 2 rejects the record as
// malformed (package cluster and package redisledger frame records with a
// site in a newer message or storage version, which older readers skip and
// count).
// Bounds on an encoded record. A record beyond any of them is not encoded
// (AppendRecord's callers check Fits) and does not decode.
const (
	MaxKeyLen    = 2048    // Upstream, bytes
	MaxSiteLen   = 253     // Site (a DNS name or a user's group name), bytes
	MaxOriginLen = 256     // Origin (a node name), bytes
	MaxReasonLen = 1024    // Reason, bytes
	MaxValueLen  = 1 << 20 // Value (a pool entry, the policy document), bytes
)

// Decoding errors. ErrUnknownKind leaves the rest of the input decodable:
// the body was read whole, only its kind is one this build does not know.
var (
	ErrMalformed   = errors.New("state: malformed record")
	ErrUnknownKind = errors.New("state: unknown record kind")
)

// IsBreaker reports whether r is a breaker record (Kind 0 or KindBreaker).
func (r Record) IsBreaker() bool { return r.Kind == 0 || r.Kind == KindBreaker }

// Fits reports whether r is within the bounds a decoder enforces, so that
// it can be encoded at all.
func (r Record) Fits() bool {
	return len(r.Upstream) <= MaxKeyLen && len(r.Site) <= MaxSiteLen && len(r.Origin) <= MaxOriginLen &&
		len(r.Reason) <= MaxReasonLen && len(r.Value) <= MaxValueLen
}

// AppendRecord appends the body encoding of r to dst and returns it. A
// zero Kind is written as KindBreaker. Callers check Fits first: a record
// beyond the bounds encodes, but will not decode.
func AppendRecord(dst []byte, r Record) []byte {
	dst = append(dst, byte(r.kind()))
	dst = appendString(dst, r.Upstream)
	dst = binary.AppendUvarint(dst, r.Gen)
	dst = append(dst, byte(r.Phase))
	dst = binary.AppendUvarint(dst, uint64(r.HLC))
	dst = appendString(dst, r.Origin)
	dst = binary.AppendVarint(dst, int64(r.OpenFor))
	dst = appendString(dst, r.Reason)
	var flags byte
	if r.Deleted {
		flags |= flagDeleted
	}
	if r.Site != "" {
		flags |= flagSite
	}
	dst = append(dst, flags)
	dst = binary.AppendUvarint(dst, uint64(len(r.Value)))
	dst = append(dst, r.Value...)
	if r.Site != "" {
		dst = appendString(dst, r.Site)
	}
	return dst
}

// Record flags.
const (
	flagDeleted = 1 << 0
	flagSite    = 1 << 1
)

// HasSite reports whether r carries a site (a pair's or a site's breaker),
// so that a framing layer can choose the message version older readers skip.
func (r Record) HasSite() bool { return r.Site != "" }

func appendString(dst []byte, s string) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(s)))
	return append(dst, s...)
}

// DecodeRecord decodes the record body at the front of b and returns it
// with the bytes after it. Strings and the value are copied: the record
// does not alias b. It never panics: a truncated body, a length beyond the
// bounds or unknown flags is ErrMalformed (the rest is then unusable); a
// kind this build does not know is ErrUnknownKind, with rest past the
// record so that a caller may skip it. A negative OpenFor is read as 0.
func DecodeRecord(b []byte) (r Record, rest []byte, err error) {
	d := recordDecoder{buf: b}
	r.Kind = Kind(d.byte())
	r.Upstream = string(d.bytes(MaxKeyLen))
	r.Gen = d.uvarint()
	r.Phase = Phase(d.byte())
	r.HLC = HLC(d.uvarint())
	r.Origin = string(d.bytes(MaxOriginLen))
	r.OpenFor = time.Duration(d.varint())
	r.Reason = string(d.bytes(MaxReasonLen))
	flags := d.byte()
	if v := d.bytes(MaxValueLen); len(v) > 0 {
		r.Value = append([]byte(nil), v...)
	}
	if d.err == nil && flags&^(flagDeleted|flagSite) != 0 {
		d.err = fmt.Errorf("%w: unknown flags %#x", ErrMalformed, flags)
	}
	if d.err == nil && flags&flagSite != 0 {
		r.Site = string(d.bytes(MaxSiteLen))
		if d.err == nil && r.Site == "" {
			d.fail("empty site")
		}
	}
	if d.err != nil {
		return Record{}, nil, d.err
	}
	r.Deleted = flags&flagDeleted != 0
	r.OpenFor = max(0, r.OpenFor)
	if r.Kind < KindBreaker || r.Kind > KindPolicy {
		return Record{}, d.buf, fmt.Errorf("%w %d", ErrUnknownKind, r.Kind)
	}
	return r, d.buf, nil
}

// recordDecoder reads a record body, remembering the first error.
type recordDecoder struct {
	buf []byte
	err error
}

func (d *recordDecoder) fail(what string) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: %s", ErrMalformed, what)
	}
	d.buf = nil
}

func (d *recordDecoder) uvarint() uint64 {
	v, n := binary.Uvarint(d.buf)
	if n <= 0 {
		d.fail("bad uvarint")
		return 0
	}
	d.buf = d.buf[n:]
	return v
}

func (d *recordDecoder) varint() int64 {
	v, n := binary.Varint(d.buf)
	if n <= 0 {
		d.fail("bad varint")
		return 0
	}
	d.buf = d.buf[n:]
	return v
}

func (d *recordDecoder) byte() byte {
	if len(d.buf) < 1 {
		d.fail("truncated")
		return 0
	}
	b := d.buf[0]
	d.buf = d.buf[1:]
	return b
}

func (d *recordDecoder) bytes(limit int) []byte {
	n := d.uvarint()
	if d.err != nil {
		return nil
	}
	if n > uint64(limit) || n > uint64(len(d.buf)) {
		d.fail("length out of bounds")
		return nil
	}
	b := d.buf[:n:n]
	d.buf = d.buf[n:]
	return b
}
