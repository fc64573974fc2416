package coord

import (
	"bytes"
	"fmt"

	"github.com/proxywhirl/retrycoord/state"
)

// PoolChange is a change to the pool that UpdatePool makes in one step.
type PoolChange struct {
	// Add holds entries added, or replacing the entry with the same key;
	// of two with the same key, the later wins.
	Add []PoolEntry
	// Remove holds keys (or URLs) of upstreams removed.
	Remove []string
}

// PoolChanged counts what UpdatePool did, against this node's pool as it
// stood just before.
type PoolChanged struct {
	Added     int // keys that were not in the pool
	Replaced  int // keys whose URL or metadata changed
	Unchanged int // keys already in the pool as given
	Removed   int // keys removed that were in the pool
}

// changed reports whether the pool changed.
func (d PoolChanged) changed() bool { return d.Added+d.Replaced+d.Removed > 0 }

// UpdatePool adds and removes upstreams as one change: every entry is
// parsed first, and one that does not parse, or a key both added and
// removed, fails the whole change with an error naming it (wrapping
// ErrBadUpstream for a bad entry, its password redacted) and nothing
// changes. Then the pool takes the change as one new snapshot, and each
// entry is written as a fact so that it reaches the fleet — except those
// the table already holds as given, so that loading the same list again
// sends nothing — and each removal as a tombstone, as Add and Remove do one
// at a time. Loading 100,000 upstreams this way took 0.7-1.2 s in
// BenchmarkPoolLoad (starting with them 0.6 s); one Add at a time copies
// the pool each time, 24 ms an entry at that size.
func (c *Coordinator) UpdatePool(ch PoolChange) (PoolChanged, error) {
	at := make(map[string]int, len(ch.Add)) // key → its place in puts
	puts := make([]*Upstream, 0, len(ch.Add))
	for i, e := range ch.Add {
		u, err := ParseUpstream(e)
		if err != nil {
			return PoolChanged{}, fmt.Errorf("coord: add[%d]: %w", i, err)
		}
		if j, ok := at[u.key]; ok {
			puts[j] = u
			continue
		}
		at[u.key] = len(puts)
		puts = append(puts, u)
	}
	removes := make([]string, 0, len(ch.Remove))
	gone := make(map[string]bool, len(ch.Remove))
	for _, k := range ch.Remove {
		if u, err := ParseUpstream(PoolEntry{URL: k}); err == nil {
			k = u.key
		}
		if _, ok := at[k]; ok {
			return PoolChanged{}, fmt.Errorf("coord: %s is both added and removed", k)
		}
		if !gone[k] {
			gone[k] = true
			removes = append(removes, k)
		}
	}

	done := c.pool.apply(puts, removes, c.pol.Load().sel.Window)
	for _, u := range puts {
		v := entryValue(u)
		if f, ok := c.tb.Fact(state.KindPool, u.key); ok && bytes.Equal(f.Value, v) {
			continue
		}
		c.tb.PutFact(state.KindPool, u.key, v)
	}
	for _, k := range removes {
		c.tb.DeleteFact(state.KindPool, k)
	}
	return done, nil
}
