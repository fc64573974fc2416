package state

// OwnFailing reports how many upstreams this table holds breakers for
// (active) and how many of them this node itself sees failing (failing): a
// breaker it opened itself and that is not closed, or at least minFailures of
// its own failures in the current window. It reads without taking anything;
// the cluster's poison guard calls it to tell a dead proxy (one upstream
// failing) from a broken local network (most of the pool failing at once).
// It costs one lock per breaker: call it on trips, not per request.
func (t *Table) OwnFailing(minFailures int) (failing, active int) {
	now := t.now().UnixNano()
	pol := t.policy.Load()
	for _, b := range t.all() {
		b.mu.Lock()
		if b.detached {
			b.mu.Unlock()
			continue
		}
		active++
		switch {
		case b.phase() != PhaseClosed && b.origin == t.node:
			failing++
		case b.win != nil:
			if f, _, _ := b.windowLocked(now, pol).totals(); int(f) >= max(1, minFailures) {
				failing++
			}
		}
		b.mu.Unlock()
	}
	return failing, active
}
