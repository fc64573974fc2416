package cluster

import (
	"slices"
	"sync"
	"sync/atomic"
)

// peers tracks the members memberlist told us about and whether each
// advertises itself as suspect, and derives the probe candidates: alive,
// non-suspect members, this node included unless it is suspect itself.
type peers struct {
	self string

	mu      sync.Mutex      // guards suspects and alive
	members map[string]bool // name → suspect
	alive   map[string]bool // nil, or the names memberlist last reported alive

	candidates atomic.Pointer[[]string] // sorted
	selfSus    atomic.Bool
}

func (p *peers) init(self string) {
	p.self = self
	p.members = map[string]bool{}
	p.rebuildLocked()
}

func (p *peers) set(name string, suspect bool) {
	if name == p.self {
		return
	}
	p.mu.Lock()
	p.members[name] = suspect
	p.rebuildLocked()
	p.mu.Unlock()
}

func (p *peers) remove(name string) {
	p.mu.Lock()
	delete(p.members, name)
	p.rebuildLocked()
	p.mu.Unlock()
}

// setAlive restricts the candidates to the members memberlist reports alive
// (not suspected by its failure detector; memberlist v0.7 shows no
// suspicion, so these are the members it has not declared dead or left).
func (p *peers) setAlive(names []string) {
	p.mu.Lock()
	p.alive = make(map[string]bool, len(names))
	for _, n := range names {
		p.alive[n] = true
	}
	p.rebuildLocked()
	p.mu.Unlock()
}

func (p *peers) setSelfSuspect(s bool) {
	p.mu.Lock()
	p.selfSus.Store(s)
	p.rebuildLocked()
	p.mu.Unlock()
}

// suspect reports whether a member advertises itself as suspect.
func (p *peers) suspect(name string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.members[name]
}

func (p *peers) rebuildLocked() {
	c := make([]string, 0, len(p.members)+1)
	if !p.selfSus.Load() {
		c = append(c, p.self)
	}
	for name, sus := range p.members {
		if !sus && (p.alive == nil || p.alive[name]) {
			c = append(c, name)
		}
	}
	slices.Sort(c)
	p.candidates.Store(&c)
}

// ownsProbe is the table's probe-ownership hook: this node probes an
// upstream when it has the highest rendezvous score among the candidates
// (or when there are none). It is fast and takes no lock.
func (n *Node) ownsProbe(upstream string) bool {
	return owner(upstream, *n.peers.candidates.Load()) == n.name ||
		len(*n.peers.candidates.Load()) == 0
}

// owner returns the candidate with the highest rendezvous score for an
// upstream, "" for none. Every node computes the same owner from the same
// candidates: the hash is FNV-1a 64 with a fixed finalizer, no seed.
func owner(upstream string, candidates []string) string {
	var best string
	var bestScore uint64
	for _, c := range candidates {
		if s := score(upstream, c); best == "" || s > bestScore || (s == bestScore && c > best) {
			best, bestScore = c, s
		}
	}
	return best
}

func score(upstream, member string) uint64 {
	const offset, prime = 14695981039346656037, 1099511628211
	h := uint64(offset)
	for i := 0; i < len(upstream); i++ {
		h = (h ^ uint64(upstream[i])) * prime
	}
	h = (h ^ 0xff) * prime // separator no key byte sequence can fake
	for i := 0; i < len(member); i++ {
		h = (h ^ uint64(member[i])) * prime
	}
	// splitmix64 finalizer: spreads FNV's weak low bits.
	h ^= h >> 30
	h *= 0xbf58476d1ce4e5b9
	h ^= h >> 27
	h *= 0x94d049bb133111eb
	h ^= h >> 31
	return h
}
