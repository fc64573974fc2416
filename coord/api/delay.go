package api

import (
	"math"
	"slices"
	"time"

	"github.com/proxywhirl/retrycoord/coord/api/client"
)

// delayRing holds the propagation delays of one origin's last
// client.DelayWindow records. Its owner guards it.
type delayRing struct {
	ds   [client.DelayWindow]time.Duration
	next int // slot of the next delay
	n    int // delays held
}

func (r *delayRing) add(d time.Duration) {
	r.ds[r.next] = d
	r.next = (r.next + 1) % len(r.ds)
	r.n = min(r.n+1, len(r.ds))
}

// summary returns the last delay and the 50th and 95th percentiles
// (nearest rank) of those held; r must hold at least one.
func (r *delayRing) summary() *Delay {
	sorted := slices.Clone(r.ds[:r.n]) // slots fill from 0 before the ring wraps
	slices.Sort(sorted)
	last := r.ds[(r.next+len(r.ds)-1)%len(r.ds)]
	return &Delay{Records: r.n, LastMS: ms(last), P50MS: ms(rank(sorted, 0.50)), P95MS: ms(rank(sorted, 0.95))}
}

// rank returns the nearest-rank q-quantile of sorted (not empty).
func rank[T any](sorted []T, q float64) T {
	i := int(math.Ceil(q*float64(len(sorted)))) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

// ms is d in milliseconds, to the microsecond.
func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
