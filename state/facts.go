package state

import (
	"bytes"
	"cmp"
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
//
// It reads the facts changed since seq, not every fact the table holds: at
// 100,000 facts, a pass over them all took 6-10 ms with the facts locked,
// on every node for every change of the pool.
func (t *Table) FactsSince(kind Kind, seq uint64) (changed []Record, last uint64) {
	t.factsMu.Lock()
	for _, e := range t.factLog.since(seq) {
		// A key changed again later is read at its later number.
		if f := t.facts[e.key]; e.key.kind == kind && f.seq == e.seq {
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
	t.factLog.add(seq, k, t.facts)
	t.factsMu.Unlock()
	t.publish(&Transition{Record: r, Source: src, Seq: seq})
	return true
}

// factLog is the facts' keys in the order of their merge numbers: each
// merge appends its own, so that FactsSince reads the changes since a
// number without a pass over every fact. A key merged again stays at its
// older number too, until the log, grown to twice the facts, is compacted
// to each fact's last.
type factLog struct {
	entries []factLogEntry // by seq, ascending
}

type factLogEntry struct {
	seq uint64
	key factKey
}

// minFactLog is the size under which the log is never compacted.
const minFactLog = 1024

// add appends the merge numbered seq of key; facts is the table's, with
// that merge in it already.
func (l *factLog) add(seq uint64, key factKey, facts map[factKey]factEntry) {
	l.entries = append(l.entries, factLogEntry{seq: seq, key: key})
	if len(l.entries) > minFactLog && len(l.entries) > 2*len(facts) {
		l.compact(facts)
	}
}

// compact keeps each fact's last number only.
func (l *factLog) compact(facts map[factKey]factEntry) {
	kept := make([]factLogEntry, 0, 2*len(facts))
	for _, e := range l.entries {
		if facts[e.key].seq == e.seq {
			kept = append(kept, e)
		}
	}
	l.entries = kept
}

// since returns the entries numbered after seq.
func (l *factLog) since(seq uint64) []factLogEntry {
	if seq == 1<<64-1 {
		return nil
	}
	i, _ := slices.BinarySearchFunc(l.entries, seq+1, func(e factLogEntry, s uint64) int { return cmp.Compare(e.seq, s) })
	return l.entries[i:]
}
