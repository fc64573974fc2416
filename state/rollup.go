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
		t.noteSpread(SiteKey(k.Site), k.Proxy, now, false)
	}
	if tr != nil && tr.Record.Phase == PhaseOpen && tr.From != PhaseOpen {
		t.noteSpread(ProxyKey(k.Proxy), k.Site, now, true)
	}
}

// noteSpread notes name on a roll-up breaker and judges it. A proxy is
// created when needed (every proxy in use has one); a site is created by
// its first failure.
func (t *Table) noteSpread(k Key, name string, now int64, create bool) {
	if !create && t.lookup(k, false) == nil {
		create = true // a site is created by its first failing pair
	}
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
// for each of the proxy, the pair and the site. Settle it once with
// SettleScoped. The zero Scoped settles as a no-op.
type Scoped struct {
	Proxy, Pair, Site Ticket
	key               Key // the pair
}

// AdmitScoped asks the site's, the proxy's and the pair's breakers to let
// one call through proxy for site. It returns ErrOpen and the level that
// refused (LevelSite: the site is open, no proxy will do) when one does;
// nothing is then held. Pair and site breakers that do not exist are not
// created. With an empty site it is Admit.
func (t *Table) AdmitScoped(proxy, site string) (Scoped, Level, error) {
	if site == "" {
		tk, err := t.Admit(proxy)
		if err != nil {
			return Scoped{}, LevelProxy, err
		}
		return Scoped{Proxy: tk, key: ProxyKey(proxy)}, 0, nil
	}
	s := Scoped{key: PairKey(proxy, site)}
	var err error
	if s.Site, err = t.AdmitAt(SiteKey(site)); err != nil {
		return Scoped{}, LevelSite, err
	}
	if s.Proxy, err = t.Admit(proxy); err != nil {
		t.Settle(s.Site, OutcomeAbandoned, 0)
		return Scoped{}, LevelProxy, err
	}
	if s.Pair, err = t.AdmitAt(s.key); err != nil {
		t.Settle(s.Site, OutcomeAbandoned, 0)
		t.Settle(s.Proxy, OutcomeAbandoned, 0)
		return Scoped{}, LevelPair, err
	}
	return s, 0, nil
}

// EligibleScoped reports whether AdmitScoped would let a call through
// proxy for site now, taking nothing (the site is not asked: callers ask
// it once per request with EligibleAt).
func (t *Table) EligibleScoped(proxy, site string) bool {
	if !t.Eligible(proxy) {
		return false
	}
	return site == "" || t.EligibleAt(PairKey(proxy, site))
}

// SettleScoped settles a scoped admission. blame says which level a
// failure belongs to: LevelProxy (the proxy could not be reached, 407,
// CONNECT refused) counts against the proxy alone, and tells the pair and
// the site nothing; LevelPair (a ban, the site's failing status or timeout
// through a working proxy) counts against the pair and the site, and is a
// success for the proxy, which did its job. While the site is not closed,
// its failures are the site's: the pair is not blamed for them. Success and
// abandoned outcomes go to all three.
func (t *Table) SettleScoped(s Scoped, outcome Outcome, blame Level, latency time.Duration) {
	if s.key.Site == "" || outcome != OutcomeFailure {
		t.Settle(s.Proxy, outcome, latency)
		t.settleOrCreate(s.key, s.Pair, outcome, latency)
		t.Settle(s.Site, outcome, latency)
		return
	}
	if blame == LevelProxy {
		t.Settle(s.Proxy, OutcomeFailure, latency)
		t.Settle(s.Pair, OutcomeAbandoned, latency)
		t.Settle(s.Site, OutcomeAbandoned, latency)
		return
	}
	t.Settle(s.Proxy, OutcomeSuccess, latency)
	if t.siteOpen(s.key.Site) {
		t.Settle(s.Pair, OutcomeAbandoned, latency)
	} else {
		t.settleOrCreate(s.key, s.Pair, OutcomeFailure, latency)
	}
	t.settleOrCreate(SiteKey(s.key.Site), s.Site, OutcomeFailure, latency)
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
