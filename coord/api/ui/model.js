// model.js holds what the live view knows: the pool, the sites, every
// breaker with a record, the fleet, the feed and the retry budgets. Snapshots (GET /v1/view)
// and streamed transitions (GET /v1/events) merge into it the way records
// merge in the fleet: a max-register over (gen, phase, hlc), so an old
// event arriving after a newer snapshot changes nothing.

export const FEED_SIZE = 200;

// PROXY_COLUMN is the one column shown while no site has a breaker: its
// cells are the proxies' own breakers.
export const PROXY_COLUMN = '';

const PHASE_ORDER = { 'open': 1, 'half-open': 2, 'closed': 3 };

export const SYMBOL = { 'open': '●', 'half-open': '◐', 'closed': '○' };

// key names a breaker: its level, its proxy and its site.
export function key(level, upstream, site) {
  return `${level}|${upstream || ''}|${site || ''}`;
}

// parseDuration reads a Go duration ("4m59s", "1h0m0s", "250ms") as ms.
export function parseDuration(s) {
  if (!s) return 0;
  const units = { h: 3600e3, m: 60e3, s: 1e3, ms: 1, us: 1e-3, 'µs': 1e-3, ns: 1e-6 };
  let ms = 0;
  for (const m of s.matchAll(/([0-9.]+)(h|ms|m|s|us|µs|ns)/g)) ms += parseFloat(m[1]) * units[m[2]];
  return ms;
}

// newer reports whether record a beats b in the fleet's merge order.
function newer(a, b) {
  if (!b) return true;
  if ((a.gen || 0) !== (b.gen || 0)) return (a.gen || 0) > (b.gen || 0);
  const pa = PHASE_ORDER[a.phase] || 0, pb = PHASE_ORDER[b.phase] || 0;
  if (pa !== pb) return pa > pb;
  return (a.hlc || 0) > (b.hlc || 0);
}

// natural orders keys as people read them: 10.0.0.9 before 10.0.0.10.
const collator = new Intl.Collator('en', { numeric: true });
function natural(a, b) { return collator.compare(a, b); }

export class Model {
  constructor() {
    this.node = '';
    this.version = '';
    this.members = [];
    this.proxies = new Map(); // key → {upstream, region, attempts, success_rate, p95_ms, sites}
    this.pairFigures = new Map(); // `${upstream}|${site}` → {site, attempts, success_rate, p95_ms}
    this.breakers = new Map(); // key(level, upstream, site) → breaker
    this.feed = [];
    this.budgets = { members: 0, exhausted: 0, hedges: {}, sites: [] }; // GET /v1/budgets, from the snapshot
    this.siteBudgets = new Map(); // site → its entry of budgets.sites
    this.rows = []; // proxy keys, sorted
    this.cols = [PROXY_COLUMN]; // sites, sorted; PROXY_COLUMN alone when none
    this.version_ = 0; // bumped on every change
  }

  // applyView replaces the model with a snapshot, keeping any breaker the
  // stream already told newer news of.
  applyView(v) {
    this.node = v.node;
    this.version = v.version || '';
    this.members = v.members || [];
    this.proxies = new Map((v.proxies || []).map(p => [p.upstream, p]));
    this.pairFigures = new Map();
    for (const p of v.proxies || []) {
      for (const f of p.sites || []) this.pairFigures.set(`${p.upstream}|${f.site}`, f);
    }
    const next = new Map();
    for (const b of v.breakers || []) {
      const k = key(b.level || 'proxy', b.upstream, b.site);
      const cur = this.breakers.get(k);
      next.set(k, cur && newer(cur, b) ? cur : b);
    }
    this.breakers = next;
    this.feed = (v.feed || []).slice(-FEED_SIZE).reverse();
    const bs = v.budgets || {};
    this.budgets = { members: bs.members || 0, exhausted: bs.exhausted || 0, hedges: bs.hedges || {}, sites: bs.sites || [] };
    this.siteBudgets = new Map(this.budgets.sites.map(s => [s.site, s]));
    this.reshape();
  }

  // applyTransition merges one streamed transition; it returns whether
  // anything the view shows changed.
  applyTransition(t) {
    if (t.kind === 'pool') return true; // the caller refreshes the snapshot
    if (t.kind && t.kind !== 'breaker') return false;
    const level = t.level || 'proxy';
    const k = key(level, t.upstream, t.site);
    const cur = this.breakers.get(k);
    const b = {
      ...(cur || {}),
      upstream: t.upstream, level, site: t.site || '', phase: t.to, gen: t.gen || 0,
      origin: t.origin, reason: t.reason || '', hlc: t.hlc, time: t.time,
      open_for: t.open_for || '', eligible: t.to === 'closed',
    };
    // Closing drops the evidence; an opening keeps the count until the next snapshot says it.
    if (t.to === 'closed') b.reporters = 0;
    // The open time runs from its arrival (the next snapshot says it by the node's clock).
    b.probe_at = t.to === 'open' ? new Date(Date.now() + parseDuration(t.open_for)).toISOString() : '';
    if (t.to !== 'open' && t.to !== 'half-open') b.probe_owner = '';
    this.feed.unshift({ time: t.time, upstream: t.upstream, site: t.site || '', level, from: t.from, to: t.to,
      gen: t.gen, source: t.source, origin: t.origin, reason: t.reason || '' });
    if (this.feed.length > FEED_SIZE) this.feed.length = FEED_SIZE;
    if (!newer(b, cur)) { this.version_++; return true; } // the feed changed
    this.breakers.set(k, b);
    if (!this.proxies.has(t.upstream) && level !== 'site' && !this.rows.includes(t.upstream)) this.reshape();
    else if (t.site && !this.cols.includes(t.site)) this.reshape();
    this.version_++;
    return true;
  }

  // reshape recomputes the rows (proxies) and columns (sites).
  reshape() {
    const rows = new Set(this.proxies.keys());
    const sites = new Set();
    for (const b of this.breakers.values()) {
      if (b.level !== 'site' && b.upstream) rows.add(b.upstream);
      if (b.site) sites.add(b.site);
    }
    this.rows = [...rows].sort(natural);
    this.cols = sites.size ? [...sites].sort(natural) : [PROXY_COLUMN];
    this.version_++;
  }

  // proxyBreaker, siteBreaker and cell return the breaker of a row header,
  // a column header and a cell (undefined when pristine).
  proxyBreaker(upstream) { return this.breakers.get(key('proxy', upstream, '')); }
  siteBreaker(site) { return site ? this.breakers.get(key('site', '', site)) : undefined; }
  cell(upstream, site) {
    return site === PROXY_COLUMN ? this.proxyBreaker(upstream) : this.breakers.get(key('pair', upstream, site));
  }

  // siteBudget returns a site's retry budget (undefined when it has no
  // counts in the window).
  siteBudget(site) { return this.siteBudgets.get(site); }

  // figures returns the recent attempts' figures of a cell: the proxy's
  // over all its attempts in the proxy-only column, else the proxy's on
  // that site (undefined when it has none there).
  figures(upstream, site) {
    return site === PROXY_COLUMN ? this.proxies.get(upstream) : this.pairFigures.get(`${upstream}|${site}`);
  }

  // notClosed lists the breakers that are open or half-open, open first.
  notClosed() {
    return [...this.breakers.values()]
      .filter(b => b.phase === 'open' || b.phase === 'half-open')
      .sort((a, b) => (PHASE_ORDER[a.phase] - PHASE_ORDER[b.phase]) ||
        (a.upstream || '').localeCompare(b.upstream || '') || (a.site || '').localeCompare(b.site || ''));
  }
}
