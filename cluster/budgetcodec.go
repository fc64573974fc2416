package cluster

import (
	"encoding/binary"
	"math"

	"github.com/proxywhirl/retrycoord/state"
)

// Budget counts and latency sketches travel in kinds of their own, so that
// nodes that predate them drop them as unknown kinds (and count them):
//
//	budget  (kind 3, version 1): origin:str count*    until the end of the message
//	latency (kind 4, version 1): origin:str sketch*   until the end of the message
//
//	count:  site:str nbuckets:uvarint (index:varint firsts:uvarint retries:uvarint floor:uvarint)*
//	sketch: site:str zero:uvarint nbins:uvarint (index:varint count:uvarint)*

const (
	msgBudget  msgKind = 3 // one node's retry budget counts per site
	msgLatency msgKind = 4 // one node's latency sketches per site
)

// budgetVersion is the only version of kinds 3 and 4.
const budgetVersion = 1

// Bounds on budget and latency messages.
const (
	maxBudgetEntries = 1 << 16 // sites in one message
	maxBudgetBuckets = 64      // buckets in one count (a node sends 2)
)

func appendBudgetCount(dst []byte, c state.BudgetCount) []byte {
	bs := c.Buckets
	if len(bs) > maxBudgetBuckets {
		bs = bs[len(bs)-maxBudgetBuckets:]
	}
	dst = appendString(dst, c.Site)
	dst = binary.AppendUvarint(dst, uint64(len(bs)))
	for _, b := range bs {
		dst = binary.AppendVarint(dst, b.Index)
		dst = binary.AppendUvarint(dst, uint64(b.Firsts))
		dst = binary.AppendUvarint(dst, uint64(b.Retries))
		dst = binary.AppendUvarint(dst, uint64(b.Floor))
	}
	return dst
}

func appendSketch(dst []byte, s state.LatencySketch) []byte {
	bins := s.Bins
	if len(bins) > state.MaxSketchBins {
		bins = bins[len(bins)-state.MaxSketchBins:]
	}
	dst = appendString(dst, s.Site)
	dst = binary.AppendUvarint(dst, uint64(s.Zero))
	dst = binary.AppendUvarint(dst, uint64(len(bins)))
	for _, b := range bins {
		dst = binary.AppendVarint(dst, int64(b.Index))
		dst = binary.AppendUvarint(dst, uint64(b.Count))
	}
	return dst
}

// pack splits entries into messages of kind k of at most budget bytes,
// each starting with the origin; an entry over budget goes alone.
func pack[T any](k msgKind, origin string, entries []T, budget int, add func([]byte, T) []byte) [][]byte {
	var packets [][]byte
	var cur, one []byte
	for _, e := range entries {
		one = add(one[:0], e)
		if cur != nil && len(cur)+len(one) > budget {
			packets = append(packets, cur)
			cur = nil
		}
		if cur == nil {
			cur = appendString(appendHeader(make([]byte, 0, budget), k, budgetVersion), origin)
		}
		cur = append(cur, one...)
	}
	if cur != nil {
		packets = append(packets, cur)
	}
	return packets
}

func packBudget(origin string, counts []state.BudgetCount, budget int) [][]byte {
	return pack(msgBudget, origin, counts, budget, appendBudgetCount)
}

func packLatency(origin string, sketches []state.LatencySketch, budget int) [][]byte {
	return pack(msgLatency, origin, sketches, budget, appendSketch)
}

// decodeBudgetBody reads the body of a budget or latency message into m.
func decodeBudgetBody(d *decoder, m *message) {
	m.origin = d.string(state.MaxOriginLen)
	if d.err == nil && m.origin == "" {
		d.fail()
	}
	for n := 0; len(d.buf) > 0 && d.err == nil; n++ {
		if n >= maxBudgetEntries {
			d.fail()
			break
		}
		site := d.string(state.MaxSiteLen)
		if m.kind == msgBudget {
			c := state.BudgetCount{Site: site}
			k := d.uvarint()
			if d.err != nil || k > maxBudgetBuckets || k > uint64(len(d.buf))/4 {
				d.fail()
				break
			}
			for range k {
				idx, f, r, fl := d.varint(), d.uvarint(), d.uvarint(), d.uvarint()
				if f > math.MaxUint32 || r > math.MaxUint32 || fl > math.MaxUint32 {
					d.fail()
				}
				if d.err != nil {
					break
				}
				c.Buckets = append(c.Buckets, state.BudgetBucket{Index: idx, Firsts: uint32(f), Retries: uint32(r), Floor: uint32(fl)})
			}
			if d.err == nil {
				m.budget = append(m.budget, c)
			}
			continue
		}
		s := state.LatencySketch{Site: site}
		zero, k := d.uvarint(), d.uvarint()
		if d.err != nil || zero > math.MaxUint32 || k > state.MaxSketchBins || k > uint64(len(d.buf))/2 {
			d.fail()
			break
		}
		s.Zero = uint32(zero)
		for range k {
			idx, c := d.varint(), d.uvarint()
			if idx < math.MinInt32 || idx > math.MaxInt32 || c > math.MaxUint32 {
				d.fail()
			}
			if d.err != nil {
				break
			}
			s.Bins = append(s.Bins, state.SketchBin{Index: int32(idx), Count: uint32(c)})
		}
		if d.err == nil {
			m.latency = append(m.latency, s)
		}
	}
}
