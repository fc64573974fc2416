// grid.js draws the proxies × sites grid. Only what is visible is in the
// document: a fleet of 1,000 proxies and 50 sites keeps a few hundred
// elements, redrawn on scroll and on change, at most once a frame.

import { PROXY_COLUMN, SYMBOL } from './model.js';

const ROW_H = 22;      // px per row
const COL_W = 40;      // px per site column
const PROXY_COL_W = 96; // px for the proxy-only column
const HEAD_W = 260;    // px of the row headers (proxy names)
const HEAD_H = 30;     // px of the column header of the proxy-only column
const SITE_HEAD_H = 120; // px of the column headers of sites (names written upwards)

function pct(x) { return `${(100 * x).toFixed(1)}%`; }

// evidence words how many nodes' failures a breaker rests on ('' for none).
export function evidence(b) {
  const n = (b && b.reporters) || 0;
  return n ? `evidence from ${n} node${n === 1 ? '' : 's'}` : '';
}

// figuresText describes recent attempts' figures (f: a proxy, or a proxy
// on a site) for a hover title or the details.
export function figuresText(f, where) {
  if (!f || !f.attempts) return `no recent attempts ${where} here`;
  return `${f.attempts} recent attempts ${where} · success ${pct(f.success_rate)} · p95 ${f.p95_ms.toFixed(1)} ms`;
}

// budgetText describes a site's retry budget (sb: one of GET /v1/budgets'
// sites) for a hover title or the budgets panel.
export function budgetText(sb) {
  if (!sb) return 'retry budget: no counts in the window';
  return `retry budget: ${sb.retries} of ${sb.allowed.toFixed(1)} used in the window · ${sb.left.toFixed(1)} left · ${sb.firsts} first attempts`;
}

// describe describes a breaker for a hover title.
export function describe(b, what) {
  if (!b) return `${what}: closed (never tripped)`;
  let s = `${what}: ${SYMBOL[b.phase] || ''} ${b.phase} · gen ${b.gen || 0}`;
  if (b.reason) s += `\nreason: ${b.reason}`;
  if (b.origin) s += `\nby ${b.origin}`;
  if (evidence(b)) s += `\n${evidence(b)}`;
  if (b.probe_owner) s += `\nprobe owner: ${b.probe_owner}`;
  if (b.phase === 'open' && b.probe_at) s += `\nprobe from: ${new Date(b.probe_at).toLocaleTimeString()}`;
  return s;
}

// listenPicks calls pick with what read finds under a click in container:
// read(element) returns {kind, upstream, site}, or null for nothing to
// pick. The view redraws by replacing elements (the grid on every snapshot
// and transition, the list of breakers not closed every second), and the
// browser fires no click when the element pressed is gone by the release:
// a click during a redraw would be lost. So a click here is a press and a
// release over the same thing, compared by what the elements show, not by
// which elements they are. Clicks with no pointer (the keyboard, or
// element.click()) are taken as they come.
export function listenPicks(container, read, pick) {
  let down = null;
  const same = (a, b) => a.kind === b.kind && a.upstream === b.upstream && a.site === b.site;
  container.addEventListener('pointerdown', e => { down = e.button === 0 ? read(e.target) : null; });
  container.addEventListener('pointercancel', () => { down = null; });
  container.addEventListener('pointerup', e => {
    const d = down;
    down = null;
    const p = e.button === 0 && d ? read(e.target) : null;
    if (p && same(p, d)) pick(p);
  });
  container.addEventListener('click', e => {
    if (e.detail !== 0) return; // a pointer's: pointerup took it
    const p = read(e.target);
    if (p) pick(p);
  });
}

export class Grid {
  constructor(el, model, onPick) {
    this.el = el;
    this.model = model;
    this.onPick = onPick;
    this.sizer = el.querySelector('#grid-sizer');
    this.layer = el.querySelector('#grid-cells');
    this.drawn = -1;
    this.pending = false;
    el.addEventListener('scroll', () => this.schedule(true), { passive: true });
    new ResizeObserver(() => this.schedule(true)).observe(el);
    listenPicks(this.layer, node => {
      const c = node.closest('[data-kind]');
      return c && { kind: c.dataset.kind, upstream: c.dataset.proxy || '', site: c.dataset.site || '' };
    }, pick => this.onPick(pick));
  }

  headH() { return this.proxyOnly() ? HEAD_H : SITE_HEAD_H; }

  proxyOnly() { return this.model.cols.length === 1 && this.model.cols[0] === PROXY_COLUMN; }

  colW() { return this.proxyOnly() ? PROXY_COL_W : COL_W; }

  // schedule redraws on the next frame (force: even if the model did not change).
  schedule(force) {
    if (force) this.drawn = -1;
    if (this.pending) return;
    this.pending = true;
    requestAnimationFrame(() => { this.pending = false; this.draw(); });
  }

  // draw puts the visible window of the grid in the document now.
  draw() {
    const m = this.model;
    if (this.drawn === m.version_) return;
    this.drawn = m.version_;
    const cw = this.colW(), hh = this.headH();
    const rows = m.rows, cols = m.cols;
    this.sizer.style.width = `${HEAD_W + cols.length * cw}px`;
    this.sizer.style.height = `${hh + rows.length * ROW_H}px`;
    this.el.style.height = `${Math.min(hh + rows.length * ROW_H + 18, Math.max(240, 0.7 * innerHeight))}px`; // no empty space below a small fleet
    const top = this.el.scrollTop, left = this.el.scrollLeft;
    const h = this.el.clientHeight || 400, w = this.el.clientWidth || 800;
    const r0 = Math.max(0, Math.floor(top / ROW_H)), r1 = Math.min(rows.length, Math.ceil((top + h - hh) / ROW_H) + 1);
    const c0 = Math.max(0, Math.floor(left / cw)), c1 = Math.min(cols.length, Math.ceil((left + w - HEAD_W) / cw) + 1);
    const frag = document.createDocumentFragment();
    const cell = (cls, x, y, cw_, text, title) => {
      const d = document.createElement('div');
      d.className = cls;
      d.style.transform = `translate(${x}px,${y}px)`;
      d.style.width = `${cw_}px`;
      if (cls.startsWith('colhead')) d.style.height = `${hh}px`;
      d.textContent = text;
      if (title) d.title = title;
      frag.appendChild(d);
      return d;
    };
    for (let r = r0; r < r1; r++) {
      const up = rows[r], y = hh + r * ROW_H;
      const p = m.proxies.get(up);
      const stats = p && p.attempts ? `\n${figuresText(p, 'through it')}` : '';
      for (let c = c0; c < c1; c++) {
        const site = cols[c];
        const b = m.cell(up, site);
        const phase = b ? b.phase : 'closed';
        const blocked = phase === 'closed' && ((m.proxyBreaker(up) || {}).phase === 'open' || (m.siteBreaker(site) || {}).phase === 'open');
        const what = site === PROXY_COLUMN ? up : `${up} on ${site}`;
        const d = cell(`cell st-${phase}${b ? '' : ' pristine'}${blocked ? ' blocked' : ''}`,
          HEAD_W + c * cw, y, cw, SYMBOL[phase],
          describe(b, what) + (site === PROXY_COLUMN ? stats : `\n${figuresText(m.figures(up, site), 'on this site')}`));
        d.dataset.kind = site === PROXY_COLUMN ? 'proxy' : 'pair';
        d.dataset.proxy = up;
        d.dataset.site = site;
        d.dataset.phase = phase;
      }
      const pb = m.proxyBreaker(up);
      const ph = pb ? pb.phase : 'closed';
      const d = cell(`rowhead st-${ph}`, left, y, HEAD_W, `${SYMBOL[ph]} ${up}`, describe(pb, up) + stats);
      d.dataset.kind = 'proxy';
      d.dataset.proxy = up;
      d.dataset.phase = ph;
    }
    for (let c = c0; c < c1; c++) {
      const site = cols[c];
      const sb = m.siteBreaker(site);
      const ph = sb ? sb.phase : 'closed';
      const label = site === PROXY_COLUMN ? 'all sites' : site;
      const d = cell(`colhead st-${ph}`, HEAD_W + c * cw, top, cw, site === PROXY_COLUMN ? label : `${SYMBOL[ph]} ${site}`,
        site === PROXY_COLUMN ? 'no site has a breaker yet: the proxies\' own breakers' : `${describe(sb, `site ${site}`)}\n${budgetText(m.siteBudget(site))}`);
      d.dataset.kind = site === PROXY_COLUMN ? 'none' : 'site';
      d.dataset.site = site;
      d.dataset.phase = ph;
      if (site !== PROXY_COLUMN) d.setAttribute('aria-label', `${label} ${ph}`);
    }
    const corner = cell('corner', left, top, HEAD_W, `${rows.length} proxies × ${cols[0] === PROXY_COLUMN ? 0 : cols.length} sites`, '');
    corner.style.height = `${hh}px`;
    this.layer.replaceChildren(frag);
  }
}
