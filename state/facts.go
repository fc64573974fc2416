package state

import (
	"bytes"
	"slices"
	"strings"
)

// PutFact writes a fleet-wide fact of this node's own (a pool entry, the
// policy document) with a fresh HLC, and publishes it with SourceManual. The
// value is copied. It returns the record written.
func (t *Table) PutFact(kind Kind, key string, value []byte) Record {
	return t.writeFact(Record{Kind: kind, Upstream: key, Value: bytes.Clone(value)})
}

// DeleteFact writes a tombstone for a fact (a pool entry removed), so that
// the removal, too, reaches every node and wins over older additions.
func (t *Table) DeleteFact(kind Kind, key string) Record {
	return t.writeFact(Record{Kind: kind, Upstream: key, Deleted: true})
}

func (t *Table) writeFact(r Record) Record {
	r.HLC = t.clock.Now()
	r.Origin = t.node
	r.Upstream = strings.Clone(r.Upstream)
	t.mergeFact(r, SourceManual)
	return r
}

// Fact returns the current fact of a kind and key, and false when there is
// none or it was deleted.
func (t *Table) Fact(kind Kind, key string) (Record, bool) {
	t.factsMu.Lock()
	r, ok := t.facts[factKey{kind, key}]
	t.factsMu.Unlock()
	if !ok || r.Deleted {
		return Record{}, false
	}
	return r, true
}

// Facts returns every live (not deleted) fact of a kind, sorted by key.
func (t *Table) Facts(kind Kind) []Record {
	var out []Record
	t.factsMu.Lock()
	for k, r := range t.facts {
		if k.kind == kind && !r.Deleted {
			out = append(out, r)
		}
	}
	t.factsMu.Unlock()
	slices.SortFunc(out, func(a, b Record) int { return strings.Compare(a.Upstream, b.Upstream) })
	return out
}

func (t *Table) mergeFact(r Record, src Source) bool {
	k := factKey{r.kind(), r.Upstream}
	r.Kind = k.kind
	r.Gen, r.Phase, r.OpenFor = 0, 0, 0
	t.factsMu.Lock()
	cur, ok := t.facts[k]
	if ok && Compare(r, cur) <= 0 {
		t.factsMu.Unlock()
		return false
	}
	t.facts[k] = r
	t.factsMu.Unlock()
	t.publish(&Transition{Record: r, Source: src})
	return true
}
