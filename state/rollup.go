package state

import (
	"strings"
	"time"
)

// Roll-ups: what the four levels of blame (DESIGN §3b) share. A pair's
// failure is noted on its site (which proxies fail for it); a pair's trip
// is noted on its proxy (on which sites it fails). A site opens when it
// fails through SpreadProxies distinct proxies at SiteFailureRate; a proxy
// opens when its pairs have opened on SpreadSites distinct sites. Both are
// judged on the same counts, local or fleet-merged, as every breaker, so
// the fleet agrees on which level to blame.

// validKey rejects keys no Table should hold: a site with a space (it would
// make Key.String ambiguous) or beyond the codec's bounds.
func validKey(k Key) bool {
	return len(k.Proxy) <= MaxKeyLen && len(k.Site) <= MaxSiteLen && !strings.ContainsAny(k.Site, " \t\r\n")
}

// siteEnv puts a site's counts in e, so that a pair of the site is judged
// against the rest of the pool (relative blame). It locks the site's
// breaker on its own, before the pair is locked.
func (t *Table) siteEnv(site string, e *env, now int64) {
	e.siteOwn, e.siteFleet = [2]uint32{}, [2]uint32{}
	e.hasSite = false
	b := t.lookup(SiteKey(site), false)
	if b == nil {
		return
	}
	b.mu.Lock()
	if b.win != nil {
		w := b.windowLocked(now, e.pol)
		f, c, _ := w.totals()
		ff, fc, _ := w.fleet()
		e.siteOwn, e.siteFleet, e.hasSite = [2]uint32{f, c}, [2]uint32{ff, fc}, true
	}
	b.mu.Unlock()
}

// siteOpen reports whether a site's breaker is not closed: its failures are
// the site's, not its pairs'.
func (t *Table) siteOpen(site string) bool {
	b := t.lookup(SiteKey(site), false)
	return b != nil && b.phase() != PhaseClosed
}

// rollUp passes a pair's failure (failed) and its trip (tr) up to its site
// and its proxy. It is called with no lock held.
func (t *Table) rollUp(k Key, failed bool, tr *Transition, now int64) {
	if k.Level() != LevelPair {
		return
	}
	if failed {
		t.noteSpread(SiteKey(k.Site), k.Proxy, now)
	}
	if tr != nil && tr.Record.Phase == PhaseOpen && tr.From != PhaseOpen {
		t.noteSpread(ProxyKey(k.Proxy), k.Site, now)
	}
}

// noteSpread notes name on a roll-up breaker and judges it, creating the
// breaker when needed: every proxy in use has one, and a site is created
// by its first failing pair.
func (t *Table) noteSpread(k Key, name string, now int64) {
	e := t.env()
	b := t.locked(k)
	var tr *Transition
	if b.phase() == PhaseClosed {
		w := b.windowLocked(now, e.pol)
		w.noteSpread(name, w.head)
		tr = b.judgeLocked(now, &e)
	}
	b.mu.Unlock()
	t.publish(tr)
}

// blamed reports whether a pair's failures are its own: it fails more often
// than its site does through every other proxy (Envoy's success-rate
// outlier detection is the model). Without calls through other proxies
// there is nothing to compare with, and the pair is blamed. Proxies and
// sites are always blamed for their own counts.
func (b *breaker) blamed(e *env, failures, calls uint32, fleet bool) bool {
	if b.key.Level() != LevelPair || !e.hasSite {
		return true
	}
	site := e.siteOwn
	if fleet {
		site = e.siteFleet
	}
	calls = max(calls, failures)
	if site[1] <= calls {
		return true
	}
	othersF := float64(site[0]) - float64(failures)
	othersC := float64(site[1] - calls)
	others := max(0, othersF) / othersC
	return float64(failures) > others*float64(calls)
}

// Scoped is the admission of one call through a proxy for a site: a ticket
// for each of the proxy, the pair and the site (the zero Ticket for a
// breaker not asked). AdmitScoped fills it and SettleScoped settles it,
// once; it is passed by pointer so that the hot path copies nothing. The
// zero Scoped settles as a no-op.
type Scoped struct {
	Proxy, Pair, Site Ticket
	site              string
}

// AdmitScoped asks the site's, the proxy's and the pair's breakers to let
// one call through proxy for site, and writes the tickets to s. It returns
// ErrOpen and the level that refused (LevelSite: the site is open, no proxy
// will do) when one does; nothing is then held. Pair and site breakers that
// do not exist are not created, and a site's pairs are asked only while
// the site has pairs that are open or counting. With an empty site it is
// Admit.
func (t *Table) AdmitScoped(s *Scoped, proxy, site string) (Level, error) {
	return t.AdmitScopedRef(s, nil, proxy, site)
}

// AdmitScopedRef is AdmitScoped with the proxy's breaker found through r
// (nil: looked up).
func (t *Table) AdmitScopedRef(s *Scoped, r *ProxyRef, proxy, site string) (Level, error) {
	*s = Scoped{site: site}
	var err error
	var sb *breaker
	if site != "" {
		if sb = lookupIn(t, &t.index.sites, site, SiteKey(site), false); sb != nil && !sb.idleClosed(t) {
			if s.Site, err = t.admit(sb, SiteKey(site)); err != nil {
				return LevelSite, err
			}
		}
	}
	if s.Proxy, err = t.admit(t.lookupRef(r, proxy, true), ProxyKey(proxy)); err != nil {
		t.Settle(s.Site, OutcomeAbandoned, 0)
		s.Site = Ticket{}
		return LevelProxy, err
	}
	if !t.siteHot(sb) {
		return 0, nil // no pair of the site needs asking
	}
	if s.Pair, err = t.AdmitAt(PairKey(proxy, site)); err != nil {
		t.Settle(s.Site, OutcomeAbandoned, 0)
		t.Settle(s.Proxy, OutcomeAbandoned, 0)
		*s = Scoped{}
		return LevelPair, err
	}
	return 0, nil
}

// EligibleScoped reports whether AdmitScoped would let a call through
// proxy for site now, taking nothing (the site is not asked: callers ask
// it once per request with EligibleAt).
func (t *Table) EligibleScoped(proxy, site string) bool {
	return t.EligibleScopedRef(nil, proxy, site)
}

// EligibleScopedRef is EligibleScoped with the proxy's breaker found
// through r (nil: looked up).
func (t *Table) EligibleScopedRef(r *ProxyRef, proxy, site string) bool {
	if !t.eligible(t.lookupRef(r, proxy, false), ProxyKey(proxy)) {
		return false
	}
	return site == "" || !t.siteHot(t.lookup(SiteKey(site), false)) || t.EligibleAt(PairKey(proxy, site))
}

// SettleScoped settles a scoped admission. blame says which level a
// failure belongs to: LevelProxy (the proxy could not be reached, 407,
// CONNECT refused) counts against the proxy alone, and tells the pair and
// the site nothing; LevelPair (a ban, the site's failing status or timeout
// through a working proxy) counts against the pair and the site, and is a
// success for the proxy, which did its job. While the site is not closed,
// its failures are the site's: the pair is not blamed for them. Success and
// abandoned outcomes go to all three.
func (t *Table) SettleScoped(s *Scoped, outcome Outcome, blame Level, latency time.Duration) {
	if s.site == "" || outcome != OutcomeFailure {
		// The pair and the site are asked only while they count, so the
		// common call settles the proxy alone: skip the others' calls.
		t.Settle(s.Proxy, outcome, latency)
		if s.Pair.b != nil {
			t.Settle(s.Pair, outcome, latency)
		}
		if s.Site.b != nil {
			t.Settle(s.Site, outcome, latency)
		}
		return
	}
	if blame == LevelProxy {
		t.Settle(s.Proxy, OutcomeFailure, latency)
		t.Settle(s.Pair, OutcomeAbandoned, latency)
		t.Settle(s.Site, OutcomeAbandoned, latency)
		return
	}
	t.Settle(s.Proxy, OutcomeSuccess, latency)
	if t.siteOpen(s.site) {
		t.Settle(s.Pair, OutcomeAbandoned, latency)
	} else {
		t.settleOrCreate(PairKey(s.Proxy.Upstream(), s.site), s.Pair, OutcomeFailure, latency)
	}
	t.settleOrCreate(SiteKey(s.site), s.Site, OutcomeFailure, latency)
}

// settleOrCreate settles tk, or, for a breaker that did not exist when it
// was admitted (the zero Ticket), creates it on a failure and counts it.
func (t *Table) settleOrCreate(k Key, tk Ticket, outcome Outcome, latency time.Duration) {
	if tk.b != nil || k.Site == "" {
		t.Settle(tk, outcome, latency)
		return
	}
	if outcome != OutcomeFailure || !validKey(k) {
		return // a success on a pair that does not exist creates nothing
	}
	if k.Level() == LevelPair && t.lookup(k, false) == nil {
		t.evictPairs(1) // make room for the new pair
	}
	b := t.lookup(k, true)
	t.Settle(Ticket{b: b, epoch: epochOf(b.word.Load())}, outcome, latency)
}

// A pair is hot while it is not closed or has a window (it counts calls):
// only then does a call through it need its breaker. Each site's breaker
// counts its hot pairs, so that AdmitScoped looks a pair up only for a
// site that has some: the closed-state path of a site without trouble costs
// two lookups (site and proxy), not three.

// hotLocked reports whether a pair is hot now.
func (b *breaker) hotLocked() bool { return b.phase() != PhaseClosed || b.win != nil }

// unlock releases b's lock and, for a pair whose hotness changed, tells its
// site (with no lock held).
func (t *Table) unlock(b *breaker) {
	var siteClosed int64 // a site that closed: when it had opened
	if b.key.Level() == LevelSite && b.openedAt != 0 && b.phase() == PhaseClosed {
		siteClosed, b.openedAt = b.openedAt, 0
	}
	delta := 0
	if b.key.Level() == LevelPair && !b.detached {
		if hot := b.hotLocked(); hot != b.hot {
			b.hot = hot
			delta = 1
			if !hot {
				delta = -1
			}
		}
	}
	b.mu.Unlock()
	if delta != 0 {
		t.adjustHot(b.key.Site, delta)
	}
	if siteClosed != 0 {
		t.closePairsOf(b.key.Site, siteClosed-int64(t.policy.Load().p.Window))
	}
}

// closePairsOf closes, when a site closes, its pairs that opened for the
// same cause: those that entered their phase since the window before the
// site opened. What the site explained is not held against its proxies. It
// scans the pairs (a site closes rarely) and is called with no lock held.
func (t *Table) closePairsOf(site string, since int64) {
	s := &t.index.pairs
	s.mu.Lock()
	m := s.dirty
	if m == nil {
		m = s.readMap()
	}
	var pairs []*breaker
	for k, b := range m {
		if k.Site == site && b.phase() != PhaseClosed {
			pairs = append(pairs, b)
		}
	}
	s.mu.Unlock()
	if len(pairs) == 0 {
		return
	}
	now := t.now().UnixNano()
	e := t.env()
	for _, b := range pairs {
		b.mu.Lock()
		var tr *Transition
		if !b.detached && b.phase() != PhaseClosed && b.since >= since {
			tr = b.closeLocked(now, &e, "site "+site+" closed", SourceLocal)
		}
		t.unlock(b)
		t.publish(tr)
	}
}

// adjustHot adds delta to a site's count of hot pairs, under the site's
// lock so that an eviction sweep never removes a site with hot pairs.
func (t *Table) adjustHot(site string, delta int) {
	sb := t.locked(SiteKey(site))
	sb.hotPairs.Add(int32(delta))
	sb.mu.Unlock()
}

// PairSuccess returns the success ratio of proxy for site in the pair's
// window (this node's own calls since the pair's first failure), and false
// when the pair has none to go by (no pair, or no window): selection then
// scores the proxy by its own outcomes. It takes the pair's lock; it is
// cheap for a site none of whose pairs is open or counting.
func (t *Table) PairSuccess(proxy, site string) (float64, bool) {
	if site == "" || !t.siteHot(lookupIn(t, &t.index.sites, site, SiteKey(site), false)) {
		return 0, false
	}
	b := lookupIn(t, &t.index.pairs, PairKey(proxy, site), PairKey(proxy, site), false)
	if b == nil {
		return 0, false
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.win == nil {
		return 0, false
	}
	f, c, _ := b.win.totals()
	if c == 0 {
		return 0, false
	}
	return 1 - float64(f)/float64(max(c, f)), true
}

// siteHot reports whether a site's pairs must be asked: the site has a
// breaker with hot pairs.
func (t *Table) siteHot(sb *breaker) bool { return sb != nil && sb.hotPairs.Load() > 0 }

// idleClosed reports whether b is closed and counts nothing: a call through
// it needs no ticket (a success would not be counted; a failure creates or
// counts through settleOrCreate).
func (b *breaker) idleClosed(t *Table) bool {
	return Phase(b.word.Load()&0xff) == PhaseClosed && !b.counting.Load() && !t.countCalls.Load()
}
