// app.js runs the live view: it loads the snapshot (GET /v1/view), follows
// the event stream (GET /v1/events) and draws the fleet, the grid, the
// breakers that are not closed, the feed and the retry budgets. It
// refreshes the snapshot every 5 s (members, delays, figures, probe
// owners, budgets) and at once when the
// pool changes or the stream reconnects. Trip and reset send the API token
// kept in sessionStorage, which lasts as long as the tab.

import { Model, SYMBOL, parseDuration } from './model.js';
import { Grid, budgetText, describe, evidence, figuresText, listenPicks } from './grid.js';

const REFRESH_MS = 5000;
const TOKEN_KEY = 'retrycoord.token';

const $ = sel => document.querySelector(sel);
const model = new Model();
let selected = null; // {kind, upstream, site}
let dirty = false;
let frozen = false; // showing a given snapshot: no more updates from the node

const grid = new Grid($('#grid'), model, pick => { selected = pick; drawDetail(); });

function el(tag, props, ...children) {
  const e = document.createElement(tag);
  Object.assign(e, props || {});
  for (const c of children) if (c != null) e.append(c);
  return e;
}

function say(text, bad) {
  const m = $('#msg');
  m.textContent = text;
  m.dataset.kind = bad ? 'error' : 'info';
}

function ago(t) {
  if (!t) return '';
  const s = Math.round((Date.now() - Date.parse(t)) / 1000);
  if (s < 60) return `${Math.max(0, s)}s ago`;
  if (s < 3600) return `${Math.floor(s / 60)}m ago`;
  return `${Math.floor(s / 3600)}h ago`;
}

function until(t) {
  const s = Math.round((Date.parse(t) - Date.now()) / 1000);
  if (s <= 0) return 'now';
  return s < 120 ? `in ${s}s` : `in ${Math.round(s / 60)}m`;
}

function label(b) {
  if (b.level === 'site') return `site ${b.site}`;
  return b.site ? `${b.upstream} on ${b.site}` : b.upstream;
}

// draw redraws everything but the grid, which draws itself, once a frame.
function draw() {
  if (dirty) return;
  dirty = true;
  requestAnimationFrame(() => {
    dirty = false;
    drawMembers();
    drawOpen();
    drawFeed();
    drawBudgets();
    drawDetail();
  });
  grid.schedule(false);
}

function drawMembers() {
  $('#node').textContent = model.node ? `· ${model.node}${model.version ? ' ' + model.version : ''}` : '';
  const rows = model.members.map(m => {
    const d = m.delay;
    const delay = m.self ? 'this node' : d ? `${d.last_ms.toFixed(1)} / ${d.p50_ms.toFixed(1)} / ${d.p95_ms.toFixed(1)} ms (${d.records})` : '—';
    const tr = el('tr', { className: `member m-${m.state}` },
      el('td', { textContent: m.name + (m.self ? ' (here)' : '') }),
      el('td', { textContent: m.state }),
      el('td', { textContent: m.suspect ? '⚠ suspects its network' : 'ok', className: m.suspect ? 'warn' : '' }),
      el('td', { textContent: delay }));
    tr.dataset.name = m.name;
    tr.dataset.delay = d ? '1' : '';
    return tr;
  });
  $('#members tbody').replaceChildren(...rows);
}

function drawOpen() {
  const list = model.notClosed();
  $('#open-count').textContent = `(${list.length})`;
  $('#open').replaceChildren(...list.map(b => {
    const li = el('li', { className: `st-${b.phase}` },
      el('span', { className: 'sym', textContent: SYMBOL[b.phase] + ' ' }),
      el('strong', { textContent: label(b) }),
      el('span', { className: 'muted', textContent: ` · ${b.level}` }),
      el('div', { className: 'why', textContent: [
        b.reason ? `why: ${b.reason}` : 'why: (no reason given)',
        b.origin ? `by ${b.origin}` : '',
        evidence(b),
        b.time ? ago(b.time) : '',
        b.phase === 'open' && b.probe_at ? `probe ${until(b.probe_at)}` : '',
        b.probe_owner ? `probe owner ${b.probe_owner}` : '',
      ].filter(Boolean).join(' · ') }));
    li.dataset.level = b.level || 'proxy';
    li.dataset.proxy = b.upstream || '';
    li.dataset.site = b.site || '';
    li.dataset.phase = b.phase;
    li.dataset.owner = b.probe_owner || '';
    li.dataset.reporters = b.reporters || 0;
    return li;
  }));
}

function drawFeed() {
  $('#feed').replaceChildren(...model.feed.map(e => el('li', { className: `st-${e.to}` },
    el('time', { textContent: e.time ? new Date(e.time).toLocaleTimeString() : '' }),
    ` ${SYMBOL[e.from] || ''}→${SYMBOL[e.to] || ''} ${e.to} `,
    el('strong', { textContent: e.site ? `${e.upstream || 'site'} on ${e.site}` : e.upstream }),
    el('span', { className: 'muted', textContent: ` gen ${e.gen || 0} · ${e.source} from ${e.origin}${e.reason ? ' · ' + e.reason : ''}` }))));
}

function drawBudgets() {
  const bs = model.budgets, h = bs.hedges;
  $('#budget-count').textContent = `(${bs.sites.length})`;
  const node = $('#budget-node');
  node.textContent = `retries refused (budget spent): ${bs.exhausted} · hedges sent ${h.sent || 0}, won ${h.won || 0}, ` +
    `refused ${h.refused || 0}, no proxy ${h.no_proxy || 0} · floor split by ${bs.members} member${bs.members === 1 ? '' : 's'}`;
  node.dataset.exhausted = bs.exhausted;
  node.dataset.hedgesSent = h.sent || 0;
  node.dataset.hedgesWon = h.won || 0;
  $('#budgets tbody').replaceChildren(...bs.sites.map(s => {
    const tr = el('tr', { className: s.left < 1 ? 'warn' : '', title: budgetText(s) },
      el('td', { textContent: s.site }),
      el('td', { textContent: `${s.retries} / ${s.allowed.toFixed(1)}` }),
      el('td', { textContent: s.left.toFixed(1) }),
      el('td', { textContent: `${s.firsts}` }));
    tr.dataset.site = s.site;
    return tr;
  }));
}

function selectedBreaker() {
  if (!selected) return undefined;
  if (selected.kind === 'site') return model.siteBreaker(selected.site);
  if (selected.kind === 'proxy') return model.proxyBreaker(selected.upstream);
  return model.cell(selected.upstream, selected.site);
}

function drawDetail() {
  const d = $('#detail');
  // What is selected, for a test (or a style) to tell one selection from the last.
  d.dataset.kind = selected ? selected.kind : '';
  d.dataset.proxy = selected ? selected.upstream : '';
  d.dataset.site = selected ? selected.site : '';
  if (!selected || selected.kind === 'none') {
    $('#actions').hidden = true;
    return;
  }
  const b = selectedBreaker();
  const what = selected.kind === 'site' ? `site ${selected.site}` :
    selected.kind === 'pair' ? `${selected.upstream} on ${selected.site}` : selected.upstream;
  const p = model.proxies.get(selected.upstream);
  const lines = describe(b, what).split('\n');
  if (b && b.time) lines.push(`since: ${new Date(b.time).toLocaleString()} (${ago(b.time)})`);
  if (b && b.phase === 'open' && b.probe_at) lines.push(`probe: ${until(b.probe_at)}`);
  if (selected.kind === 'site') lines.push(budgetText(model.siteBudget(selected.site)));
  if (selected.kind === 'pair') lines.push(figuresText(model.figures(selected.upstream, selected.site), 'on this site'));
  if (p && selected.kind !== 'site') {
    lines.push(figuresText(p, 'through it'));
    if (p.region) lines.push(`region: ${p.region}`);
  }
  d.replaceChildren(...lines.map((t, i) => el(i ? 'p' : 'h3', { textContent: t })));
  d.dataset.phase = b ? b.phase : 'closed';
  $('#actions').hidden = !target();
}

// --- the API -------------------------------------------------------------

function token() { return sessionStorage.getItem(TOKEN_KEY) || ''; }

function drawToken() {
  $('#token-state').textContent = token() ? 'token set for this tab' : 'read-only (no token)';
  $('#token-form').dataset.set = token() ? '1' : '';
}

async function write(path, body) {
  const headers = { 'Content-Type': 'application/json' };
  if (token()) headers.Authorization = `Bearer ${token()}`;
  let resp;
  try {
    resp = await fetch(path, { method: 'POST', headers, body: JSON.stringify(body || {}) });
  } catch (e) {
    say(`cannot reach the node: ${e.message}`, true);
    return false;
  }
  if (resp.ok) return true;
  let msg = `HTTP ${resp.status}`;
  try { msg = (await resp.json()).error.message; } catch { /* not the API's JSON */ }
  if (resp.status === 401 || resp.status === 403) {
    say(`refused: ${msg}`, true);
    $('#token').focus();
  } else {
    say(`failed: ${msg}`, true);
  }
  return false;
}

// target returns the API path of the selected breaker (proxy, pair or
// site) and a name for messages; null when nothing that trips is selected.
function target() {
  if (!selected) return null;
  const up = encodeURIComponent(selected.upstream), site = encodeURIComponent(selected.site);
  switch (selected.kind) {
    case 'proxy': return { path: `/v1/breakers/${up}`, query: '', name: selected.upstream };
    case 'pair': return { path: `/v1/breakers/${up}`, query: `?site=${site}`, name: `${selected.upstream} on ${selected.site}` };
    case 'site': return { path: `/v1/sites/${site}`, query: '', name: `site ${selected.site}` };
  }
  return null;
}

async function trip() {
  const tg = target();
  if (!tg) return;
  const forv = $('#trip-for').value.trim();
  if (forv && forv !== '0' && parseDuration(forv) <= 0) {
    say(`open for "${forv}": want a duration such as 30s, 5m or 1h`, true);
    return;
  }
  if (await write(`${tg.path}/trip${tg.query}`, { for: forv, reason: $('#trip-reason').value })) {
    say(`tripped ${tg.name}`);
  }
}

async function reset() {
  const tg = target();
  if (tg && await write(`${tg.path}/reset${tg.query}`)) say(`reset ${tg.name}`);
}

let refreshing = null;
let soonTimer = 0;

// soon refreshes the snapshot in a second, once however many ask: a
// breaker that opened needs its probe owner, which only the snapshot has.
function soon() {
  if (soonTimer) return;
  soonTimer = setTimeout(() => { soonTimer = 0; refresh(); }, 1000);
}

async function refresh() {
  if (frozen) return undefined;
  if (refreshing) return refreshing;
  refreshing = (async () => {
    try {
      const resp = await fetch('/v1/view', { cache: 'no-store' });
      if (!resp.ok) throw new Error(`HTTP ${resp.status}`);
      const v = await resp.json();
      if (frozen) return;
      model.applyView(v);
      document.body.dataset.loaded = '1';
      draw();
    } catch (e) {
      say(`cannot load the view: ${e.message}`, true);
    } finally {
      refreshing = null;
    }
  })();
  return refreshing;
}

function follow() {
  const conn = $('#conn');
  const es = new EventSource('/v1/events');
  es.addEventListener('open', () => {
    conn.dataset.state = 'live';
    conn.textContent = '● live';
    refresh(); // whatever happened while the stream was down
  });
  es.addEventListener('error', () => {
    conn.dataset.state = 'reconnecting';
    conn.textContent = '○ reconnecting…';
  });
  es.addEventListener('transition', ev => {
    let t;
    try { t = JSON.parse(ev.data); } catch { return; }
    if (frozen) return;
    if (t.kind === 'pool') { refresh(); return; }
    if (model.applyTransition(t)) draw();
    if (t.to === 'open' || t.to === 'half-open') soon(); // its probe owner
  });
}

$('#token-form').addEventListener('submit', e => {
  e.preventDefault();
  const v = $('#token').value.trim();
  if (v) sessionStorage.setItem(TOKEN_KEY, v);
  $('#token').value = '';
  drawToken();
  say(v ? 'token kept for this tab' : 'no token given');
});
$('#token-forget').addEventListener('click', () => {
  sessionStorage.removeItem(TOKEN_KEY);
  drawToken();
  say('token forgotten');
});
// A breaker in the list selects it, like its cell in the grid; the list is
// redrawn every second while any is open, so clicks go through listenPicks.
listenPicks($('#open'), node => {
  const li = node.closest('li[data-level]');
  return li && { kind: li.dataset.level, upstream: li.dataset.proxy, site: li.dataset.site };
}, pick => { selected = pick; drawDetail(); });
$('#trip').addEventListener('click', trip);
$('#reset').addEventListener('click', reset);

// rcview lets a test, or a curious operator at the console, reach the model.
window.rcview = {
  model, grid,
  select(kind, upstream, site) { selected = { kind, upstream, site: site || '' }; drawDetail(); },
  // redraw draws everything now, the grid's elements and the list's anew,
  // as an update from the node would.
  redraw() {
    grid.drawn = -1;
    grid.draw();
    drawMembers();
    drawOpen();
    drawFeed();
    drawBudgets();
    drawDetail();
  },
  // render shows a given snapshot from now on (the node's updates are no
  // longer applied) and resolves once it is drawn, with the time it took
  // in ms.
  async render(view) {
    frozen = true;
    const t0 = performance.now();
    model.applyView(view);
    draw();
    grid.draw();
    await new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)));
    return performance.now() - t0;
  },
};

drawToken();
follow();
refresh();
setInterval(refresh, REFRESH_MS);
setInterval(() => { if (model.notClosed().length) draw(); }, 1000); // countdowns; draws nothing new otherwise
