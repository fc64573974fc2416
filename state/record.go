package state

import (
	"bytes"
	"cmp"
	"strconv"
	"time"
)

// Kind says what a Record is about. Kinds are wire values: they start at 1,
// and they are append-only. The zero Kind is read as KindBreaker.
type Kind uint8

const (
	KindBreaker Kind = 1 // a breaker transition; Upstream is the key
	KindPool    Kind = 2 // a pool entry; Upstream is the key, Value the entry
	KindPolicy  Kind = 3 // the policy document; Upstream is empty, Value the document
)

// String returns "breaker", "pool", "policy", or "kind(N)".
func (k Kind) String() string {
	switch k {
	case KindBreaker, 0:
		return "breaker"
	case KindPool:
		return "pool"
	case KindPolicy:
		return "policy"
	}
	return "kind(" + strconv.Itoa(int(k)) + ")"
}

// Record is one fleet-wide fact in wire-independent form: a breaker
// transition, a pool entry, or the policy document. Records merge as a
// max-register: of two records with the same Kind and Upstream the greater
// (by Compare) wins, so merging is commutative, associative and idempotent,
// and duplicates, reordering and echoes are harmless.
//
// For breakers, a trip writes Gen = highest generation seen + 1, so it beats
// every close it has seen, and a close carries the generation it closes, so it
// can never undo an open it has not seen. Pool and policy records leave Gen
// and Phase zero and are ordered by HLC, ties broken by Origin.
type Record struct {
	Kind     Kind          // what the record is about (0: KindBreaker)
	Upstream string        // the key: an upstream for breaker and pool records (empty for a site's breaker)
	Site     string        // the site of a pair's or a site's breaker (empty for a proxy's); see Key
	Gen      uint64        // trip generation, +1 on every trip (breakers)
	Phase    Phase         // the phase entered (breakers)
	HLC      HLC           // when the origin wrote it
	Origin   string        // the node that wrote it
	OpenFor  time.Duration // open time remaining when sent (open breakers); relative, never a deadline
	Reason   string        // why (breakers), free text
	Value    []byte        // the payload of pool and policy records; opaque here
	Deleted  bool          // a pool entry that was removed (a tombstone)
}

// Compare orders records of one key: by Gen, Phase, HLC and Origin, then by
// the remaining fields so that the order is total and merging is
// deterministic even for records that should never differ in them.
func Compare(a, b Record) int {
	if c := cmp.Compare(a.Gen, b.Gen); c != 0 {
		return c
	}
	if c := cmp.Compare(a.Phase, b.Phase); c != 0 {
		return c
	}
	if c := cmp.Compare(a.HLC, b.HLC); c != 0 {
		return c
	}
	if c := cmp.Compare(a.Origin, b.Origin); c != 0 {
		return c
	}
	if c := cmp.Compare(a.OpenFor, b.OpenFor); c != 0 {
		return c
	}
	if c := cmp.Compare(a.Reason, b.Reason); c != 0 {
		return c
	}
	if a.Deleted != b.Deleted {
		if a.Deleted {
			return 1
		}
		return -1
	}
	return bytes.Compare(a.Value, b.Value)
}

// Max returns the greater of two records of the same key: the merge.
func Max(a, b Record) Record {
	if Compare(a, b) >= 0 {
		return a
	}
	return b
}

// kind returns the record's kind with the zero value read as KindBreaker.
func (r Record) kind() Kind {
	if r.Kind == 0 {
		return KindBreaker
	}
	return r.Kind
}

// MarshalText returns the kind's name.
func (k Kind) MarshalText() ([]byte, error) { return []byte(k.String()), nil }
