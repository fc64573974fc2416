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

// factEntry is a fact as the table holds it: the record, and the seq of
// the merge that stored it.
type factEntry struct {
	rec Record
	seq uint64
}

// Fact returns the current fact of a kind and key, and false when there is
// none or it was deleted.
func (t *Table) Fact(kind Kind, key string) (Record, bool) {
	t.factsMu.Lock()
	f, ok := t.facts[factKey{kind, key}]
	t.factsMu.Unlock()
	if !ok || f.rec.Deleted {
		return Record{}, false
	}
	return f.rec, true
}

// Facts returns every live (not deleted) fact of a kind, sorted by key.
func (t *Table) Facts(kind Kind) []Record {
	out, _ := t.FactsSince(kind, 0)
	return slices.DeleteFunc(out, func(r Record) bool { return r.Deleted })
}

// FactsSince returns the facts of a kind, tombstones included, that
// changed after the merge numbered seq (0: every fact the table holds),
// sorted by key, and the number of the last merge, to pass as seq next
// time. Every fact the table stores takes the next number, so a reader
// that passes back what it was given sees each change once at least, in
// its latest form, however many transitions its subscription dropped:
// the way to keep up with facts when missing one is not an option (a
// node's pool).
func (t *Table) FactsSince(kind Kind, seq uint64) (changed []Record, last uint64) {
	t.factsMu.Lock()
	for k, f := range t.facts {
		if k.kind == kind && f.seq > seq {
			changed = append(changed, f.rec)
		}
	}
	last = t.factSeq
	t.factsMu.Unlock()
	slices.SortFunc(changed, func(a, b Record) int { return strings.Compare(a.Upstream, b.Upstream) })
	return changed, last
}

// FactSeq returns the number of the last merge of a fact: FactsSince with
// it returns what changes from now on.
func (t *Table) FactSeq() uint64 {
	t.factsMu.Lock()
	defer t.factsMu.Unlock()
	return t.factSeq
}

func (t *Table) mergeFact(r Record, src Source) bool {
	k := factKey{r.kind(), r.Upstream}
	r.Kind = k.kind
	r.Gen, r.Phase, r.OpenFor = 0, 0, 0
	t.factsMu.Lock()
	cur, ok := t.facts[k]
	if ok && Compare(r, cur.rec) <= 0 {
		t.factsMu.Unlock()
		return false
	}
	t.factSeq++
	seq := t.factSeq
	t.facts[k] = factEntry{rec: r, seq: seq}
	t.factsMu.Unlock()
	t.publish(&Transition{Record: r, Source: src, Seq: seq})
	return true
}
