package coord

import (
	"sync"
	"sync/atomic"
)

// idBlockSize is how many request ids a block holds.
const idBlockSize = 1024

// requestIDs hands out request ids, unique per Coordinator, without a
// counter that every request writes: a shared counter is a cache line
// that two cores taking ids at once pass back and forth, which costs more
// than the rest of a request's bookkeeping. Ids come in blocks of
// idBlockSize from the shared counter, and a sync.Pool keeps the block in
// use close to each processor. Ids are unique and never 0, but not handed
// out in order: two requests started one after the other may have ids
// from different blocks, and a block the pool drops (at a garbage
// collection) leaves its ids unused.
type requestIDs struct {
	last   atomic.Uint64 // the last id of the last block handed out
	blocks sync.Pool     // *idBlock
}

// idBlock is a run of ids: next is the next to hand out, end one past the
// last.
type idBlock struct{ next, end uint64 }

// next returns a fresh id.
func (s *requestIDs) next() uint64 {
	b, _ := s.blocks.Get().(*idBlock)
	if b == nil {
		b = new(idBlock)
	}
	id := s.take(b)
	s.blocks.Put(b)
	return id
}

// take returns the next id of b, first filling b with a fresh block of
// ids from the shared counter when it has none left.
func (s *requestIDs) take(b *idBlock) uint64 {
	if b.next == b.end {
		end := s.last.Add(idBlockSize)
		b.next, b.end = end-idBlockSize+1, end+1
	}
	id := b.next
	b.next++
	return id
}
