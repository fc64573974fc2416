package state

// OwnFailing reports how many upstreams this table holds breakers for
// (active) and how many of them this node itself sees failing (failing): a
// breaker its own failures opened and that is not closed, or at least
// minFailures of its own failures in the current window. An operator's trip
// is not a failure seen: it does not count. It reads without taking anything;
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
		case b.phase() != PhaseClosed && b.origin == t.node && !b.manual:
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

// OperatorTrip reports whether an upstream's breaker is open, at generation
// gen, because an operator tripped it on this node (Trip). Such a trip says
// nothing about this node's network: the cluster's poison guard neither
// counts nor withholds it.
func (t *Table) OperatorTrip(upstream string, gen uint64) bool {
	b := t.lookup(upstream, false)
	if b == nil {
		return false
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.manual && b.gen == gen && b.phase() == PhaseOpen
}
