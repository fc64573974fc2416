package state

import "sync/atomic"

// ProxyRef remembers one proxy's breaker in one Table, so that a caller
// that asks about the same proxy on every call skips the index lookup (a
// string hash and a map probe; three per request in a coordinator: two
// candidates' eligibility and the admission). The coordinator keeps one
// with each upstream of its pool. The zero ProxyRef is ready; it must be
// used with one Table and one proxy only, and not copied after first use.
//
// A breaker that an eviction sweep removed is noticed at the next use and
// looked up again, so a ProxyRef never holds a call on a removed breaker.
// Until then it keeps the removed breaker's memory (its window is freed
// first): at most one breaker per ProxyRef.
type ProxyRef struct {
	b atomic.Pointer[breaker]
}

// lookupRef is lookup of proxy's breaker through r.
func (t *Table) lookupRef(r *ProxyRef, proxy string, create bool) *breaker {
	if r == nil {
		return lookupIn(t, &t.index.proxies, proxy, ProxyKey(proxy), create)
	}
	if b := r.b.Load(); b != nil && !b.gone.Load() {
		if !b.used.Load() {
			b.used.Store(true)
		}
		return b
	}
	b := lookupIn(t, &t.index.proxies, proxy, ProxyKey(proxy), create)
	if b != nil {
		r.b.Store(b)
	}
	return b
}
