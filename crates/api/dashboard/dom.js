// Safe DOM building and formatting helpers.
//
// Every node of the dashboard is built here with createElement and text
// nodes: no HTML string is ever parsed, so agent output, briefs, feedback and
// comments always show as the text they are. URLs that come from data go
// through apiUrl(), which keeps only same-origin API paths.

const SVG_NS = 'http://www.w3.org/2000/svg';

/** Appends children: strings and numbers become text nodes; arrays are flattened. */
export function append(parent, children) {
  for (const child of children) {
    if (child === null || child === undefined || child === false || child === true) continue;
    if (Array.isArray(child)) append(parent, child);
    else if (child instanceof Node) parent.appendChild(child);
    else parent.appendChild(document.createTextNode(String(child)));
  }
  return parent;
}

/** Keeps a link target only when it is a path of this origin ("/x", never "//x"). */
function localPath(value) {
  const v = String(value);
  return v.startsWith('/') && !v.startsWith('//') && !v.includes('\\') ? v : null;
}

/**
 * Sets attributes. Keys: "class" (string or array), "onclick"-style keys with
 * a function (added as listeners, never as attributes), ".prop" sets a DOM
 * property (e.g. ".value"), booleans true/false add/omit the attribute.
 * "href" and "src" only accept same-origin paths; "style" is refused (CSP).
 */
function applyAttrs(el, attrs) {
  if (!attrs) return;
  for (const [key, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (key.startsWith('on') && typeof value === 'function') {
      el.addEventListener(key.slice(2).toLowerCase(), value);
    } else if (key.startsWith('.')) {
      el[key.slice(1)] = value;
    } else if (key === 'class') {
      const cls = Array.isArray(value) ? value.filter(Boolean).join(' ') : value;
      if (cls) el.setAttribute('class', cls);
    } else if (key === 'style') {
      throw new Error('inline styles are not allowed by the page policy');
    } else if (key === 'href' || key === 'src') {
      const path = localPath(value);
      if (path !== null) el.setAttribute(key, path);
    } else {
      el.setAttribute(key, value === true ? '' : String(value));
    }
  }
}

/** h('p', {class: 'x'}, 'text', child): an HTML element. */
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  applyAttrs(el, attrs);
  return append(el, children);
}

/** svg('rect', {...}): an SVG element (children as for h). */
export function svg(tag, attrs, ...children) {
  const el = document.createElementNS(SVG_NS, tag);
  applyAttrs(el, attrs);
  return append(el, children);
}

/** Empties an element and fills it with new children. */
export function replace(el, ...children) {
  el.replaceChildren();
  return append(el, children);
}

/** A URL from data (agent output, API fields): kept only if it is an API path. */
export function apiUrl(value) {
  return typeof value === 'string' && value.startsWith('/api/') && !value.includes('\\') ? value : null;
}

/** Keeps the focused control across a re-render of `container` (by data-focus-key). */
export function keepFocus(container, render) {
  const active = document.activeElement;
  const key = active && container.contains(active) ? active.getAttribute('data-focus-key') : null;
  render();
  if (key) {
    const again = [...container.querySelectorAll('[data-focus-key]')].find((e) => e.getAttribute('data-focus-key') === key);
    if (again) again.focus();
  }
}

// ---------------------------------------------------------------- formatting

const usd = new Intl.NumberFormat('en-US', { style: 'currency', currency: 'USD' });

/** $1,234.56 ("—" when unknown). */
export function money(value) {
  if (value === null || value === undefined || Number.isNaN(Number(value))) return '—';
  return usd.format(Number(value));
}

/** Compute cost: $0.2634 below a dollar, $12.34 above. */
export function cost(value) {
  if (value === null || value === undefined || Number.isNaN(Number(value))) return '—';
  const n = Number(value);
  return Math.abs(n) < 1 ? `$${n.toFixed(4)}` : usd.format(n);
}

/** "just now", "3 min ago", "2 h ago", "4 days ago", or a date when older. */
export function relative(iso, now = Date.now()) {
  const t = Date.parse(iso);
  if (Number.isNaN(t)) return iso ? String(iso) : '—';
  const secs = Math.round((now - t) / 1000);
  const future = secs < 0;
  const a = Math.abs(secs);
  let text;
  if (a < 45) return future ? 'in a moment' : 'just now';
  if (a < 3600) text = `${Math.max(1, Math.round(a / 60))} min`;
  else if (a < 86400) text = `${Math.round(a / 3600)} h`;
  else if (a < 86400 * 30) {
    const d = Math.round(a / 86400);
    text = `${d} day${d === 1 ? '' : 's'}`;
  } else return absolute(iso);
  return future ? `in ${text}` : `${text} ago`;
}

/** A readable absolute time in the browser's locale. */
export function absolute(iso) {
  const t = new Date(iso);
  if (Number.isNaN(t.getTime())) return iso ? String(iso) : '—';
  return t.toLocaleString(undefined, { year: 'numeric', month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit', second: '2-digit' });
}

/** <time> with relative text (kept fresh by startClock) and the exact time as its title. */
export function timeAgo(iso) {
  if (!iso) return h('span', { class: 'muted' }, '—');
  return h('time', { class: 'rel', datetime: iso, title: iso }, relative(iso));
}

/** <time> with absolute text and the exact ISO time as its title. */
export function timeAt(iso) {
  if (!iso) return h('span', { class: 'muted' }, '—');
  return h('time', { datetime: iso, title: iso }, absolute(iso));
}

/** Refreshes every relative time on the page every 30 s. */
export function startClock() {
  setInterval(() => {
    const now = Date.now();
    for (const el of document.querySelectorAll('time.rel')) {
      el.textContent = relative(el.getAttribute('datetime'), now);
    }
  }, 30_000);
}

// -------------------------------------------------------------------- status

const STATUS_WORDS = {
  waiting_for_approval: 'waiting',
  pending: 'pending',
  running: 'running',
  succeeded: 'succeeded',
  failed: 'failed',
  cancelled: 'cancelled',
  skipped: 'skipped',
};

/** The word shown next to a status colour. */
export function statusWord(status) {
  return STATUS_WORDS[status] || String(status || 'unknown').replace(/_/g, ' ');
}

/** A CSS-safe status class suffix. */
export function statusClass(status) {
  return String(status || 'unknown').replace(/[^a-z0-9_-]/gi, '');
}

/** A coloured badge that always carries the status as a word. */
export function badge(status, text) {
  return h('span', { class: ['badge', `status-${statusClass(status)}`], 'data-status': status }, text || statusWord(status));
}

/** "budget_usd_per_day" → "Budget usd per day"; a few known names read better. */
const KEY_LABELS = {
  budget_usd_per_day: 'Ad budget per day (USD)',
  campaign_days: 'Campaign days',
  launch_run_id: 'Launch run',
  daily_budget_usd: 'Daily budget',
  total_usd: 'Total',
  cost_usd: 'Cost',
  asset_url: 'Asset',
  past_collaboration: 'Worked with us before',
};
export function humanize(key) {
  if (KEY_LABELS[key]) return KEY_LABELS[key];
  const words = String(key).replace(/[_-]+/g, ' ').replace(/([a-z])([A-Z])/g, '$1 $2').trim();
  return words.charAt(0).toUpperCase() + words.slice(1);
}

/** run_01m8es3eay22q2f62f9zyz4pqx → run_…z4pqx (full id in a title). */
export function shortId(id) {
  const s = String(id || '');
  return s.length > 14 ? `${s.slice(0, 4)}…${s.slice(-6)}` : s;
}

/** A link to a run showing its short id. */
export function runLink(runId, attrs = {}) {
  return h('a', { href: `/runs/${encodeURIComponent(runId)}`, title: runId, class: 'mono', ...attrs }, shortId(runId));
}

/** "15:51" today, "Nov 26, 15:51" before: when something started waiting. */
export function clockTime(iso, now = new Date()) {
  const t = new Date(iso);
  if (Number.isNaN(t.getTime())) return iso ? String(iso) : '—';
  const sameDay = t.toDateString() === now.toDateString();
  return t.toLocaleString(undefined, sameDay
    ? { hour: '2-digit', minute: '2-digit' }
    : { month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit' });
}

/** "Waiting since 15:51" with the exact time and the age in its title. */
export function waitingSince(iso, prefix = 'Waiting since ') {
  if (!iso) return null;
  return h('span', { class: 'since' }, prefix, h('time', { datetime: iso, title: `${iso} (${relative(iso)})` }, clockTime(iso)));
}

const PLATFORMS = {
  youtube: 'YouTube',
  tiktok: 'TikTok',
  instagram: 'Instagram',
  pinterest: 'Pinterest',
  facebook: 'Facebook',
  linkedin: 'LinkedIn',
  twitter: 'Twitter',
  x: 'X',
  threads: 'Threads',
  snapchat: 'Snapchat',
  twitch: 'Twitch',
  substack: 'Substack',
  bluesky: 'Bluesky',
};

/** "youtube" → "YouTube": social platforms as they spell themselves. */
export function platformName(value) {
  const s = String(value ?? '');
  return PLATFORMS[s.toLowerCase()] || humanize(s);
}

/** 48200 → "48,200". */
export function count(n) {
  return Number(n).toLocaleString('en-US');
}

/**
 * Gives each body cell of a table the text of its column's header as
 * data-label, for the stacked (card-like) layout of narrow screens. Cells
 * that already have a data-label (even empty) keep it; colspans are followed.
 */
export function labelCells(tableEl) {
  const heads = [...tableEl.querySelectorAll('thead tr:first-child > th')].map((th) => th.textContent.trim());
  for (const tr of tableEl.querySelectorAll('tbody > tr, tfoot > tr')) {
    let col = 0;
    for (const cell of tr.children) {
      if (!cell.hasAttribute('data-label') && !cell.hasAttribute('colspan') && heads[col]) cell.setAttribute('data-label', heads[col]);
      col += Number(cell.getAttribute('colspan') || 1);
    }
  }
  return tableEl;
}

/** "Loading…" placeholder announced politely. */
export function loading(text = 'Loading…') {
  return h('p', { class: 'loading', role: 'status' }, h('span', { class: 'spinner', 'aria-hidden': 'true' }), text);
}

/**
 * A table wrapped for horizontal scrolling; on narrow screens (the class
 * "stack-sm") each row becomes a card of labelled lines instead.
 */
export function table(headers, rows, attrs = {}) {
  const el = h('table', { class: ['table', 'stack-sm', attrs.class], id: attrs.id || null },
    attrs.caption ? h('caption', { class: 'visually-hidden' }, attrs.caption) : null,
    h('thead', null, h('tr', null, headers.map((t) => h('th', { scope: 'col' }, t)))),
    h('tbody', null, rows));
  return h('div', { class: 'table-wrap' }, labelCells(el));
}
