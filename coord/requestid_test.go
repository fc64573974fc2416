package coord

import (
	"sync"
	"testing"
)

// TestRequestIDsAreUnique takes ids from many goroutines at once, across
// many blocks, and checks that none is 0 and none comes twice.
func TestRequestIDsAreUnique(t *testing.T) {
	const goroutines, each = 16, 3*idBlockSize + 7
	var ids requestIDs
	got := make([][]uint64, goroutines)
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range each {
				got[g] = append(got[g], ids.next())
			}
		}()
	}
	wg.Wait()
	seen := make(map[uint64]bool, goroutines*each)
	for _, ids := range got {
		for _, id := range ids {
			if id == 0 {
				t.Fatal("id 0 handed out")
			}
			if seen[id] {
				t.Fatalf("id %d handed out twice", id)
			}
			seen[id] = true
		}
	}
}

// TestRequestIDsOfOneGoroutineRise: one goroutine alone takes its ids in
// order, block after block (no id is skipped while the pool keeps the
// block).
func TestRequestIDsOfOneGoroutineRise(t *testing.T) {
	var ids requestIDs
	prev := uint64(0)
	for range 2*idBlockSize + 3 {
		id := ids.next()
		if id <= prev {
			t.Fatalf("id %d after %d", id, prev)
		}
		prev = id
	}
}

// TestRequestIDBlocksDoNotOverlap takes ids from three blocks in turn, as
// three processors would, without leaving the order to the scheduler or
// to sync.Pool: every id is new, none is 0, and none lies beyond the ids
// the shared counter has handed out.
func TestRequestIDBlocksDoNotOverlap(t *testing.T) {
	var ids requestIDs
	var blocks [3]idBlock
	seen := map[uint64]bool{}
	for range 2*idBlockSize + 5 {
		for i := range blocks {
			id := ids.take(&blocks[i])
			if id == 0 || seen[id] || id > ids.last.Load() {
				t.Fatalf("block %d handed out id %d (seen before: %v; the counter is at %d)", i, id, seen[id], ids.last.Load())
			}
			seen[id] = true
		}
	}
}
