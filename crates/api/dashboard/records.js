// Audit and Outbox pages: paginated tables of who decided what, and of what
// the actions sent (only ever after their gate was approved).

import { h, replace, money, timeAgo, runLink, table, loading } from './dom.js';
import { api, withQuery } from './api.js';
import { alertBox, cursorPages, pageHeading, retrying } from './nav.js';

/** The step key of a step id of the form "<run_id>.<step_key>", else the id. */
function stepName(stepId, runId) {
  if (!stepId) return '';
  return runId && stepId.startsWith(`${runId}.`) ? stepId.slice(runId.length + 1) : stepId;
}

/** A paginated list page: fetchPage(cursor) → {…, next_cursor}; path is its address. */
async function listPage(ctx, { title, intro, path, fetchPage, render }) {
  ctx.title(title);
  const error = alertBox();
  const list = h('div', null, loading());
  const pages = cursorPages(ctx, {
    path: () => path,
    list,
    reload: () => load(),
  });
  replace(ctx.main, h('div', { class: 'page-head' }, pageHeading(title)), h('p', { class: 'muted' }, intro), error.el, list, pages.el);
  let loads = 0;
  async function load() {
    const mine = ++loads;
    replace(list, loading());
    let page;
    try {
      page = await retrying(ctx, () => fetchPage(pages.cursor()), error);
    } catch {
      if (ctx.alive() && mine === loads) list.replaceChildren();
      return;
    }
    if (!ctx.alive() || mine !== loads) return;
    replace(list, render(page));
    pages.render(page.next_cursor);
  }
  await load();
}

export function mountAudit(ctx) {
  return listPage(ctx, {
    title: 'Audit',
    path: '/audit',
    intro: 'Every approval action: who, when, on which run and step, and what they wrote. Append-only.',
    fetchPage: (cursor) => api(withQuery('/api/audit', { cursor, limit: 50 })),
    render: (page) => {
      const entries = page.entries || [];
      if (!entries.length) return h('p', { class: 'empty panel' }, 'No audit entries yet.');
      return table(['When', 'Who', 'Action', 'Run', 'Step', 'Text'], entries.map((e) => h('tr', { 'data-action': e.action },
        h('td', { class: 'nowrap' }, timeAgo(e.at)),
        h('td', null, (e.actor && (e.actor.name || e.actor.member_id)) || '—'),
        h('td', null, h('code', null, e.action || '')),
        h('td', null, e.run_id ? runLink(e.run_id) : '—'),
        h('td', null, e.step_id
          ? (String(e.action || '').startsWith('approval.')
            ? h('a', { href: `/review/${encodeURIComponent(e.step_id)}` }, stepName(e.step_id, e.run_id))
            : stepName(e.step_id, e.run_id))
          : '—'),
        h('td', { class: 'text-cell' }, e.text || h('span', { class: 'muted' }, '—')))), { caption: 'Audit log', class: 'audit' });
    },
  });
}

const count = (n, word) => `${n} ${word}${n === 1 ? '' : 's'}`;

/** One line about what an action sent. */
export function payloadSummary(action, p) {
  if (!p || typeof p !== 'object') return String(p ?? '');
  let line = '';
  if (Array.isArray(p.variants)) {
    const options = p.variants.reduce((n, v) => n + (Array.isArray(v && v.options) ? v.options.length : 1), 0);
    line = `${count(options, 'listing variant')} for ${count(p.variants.length, 'product')}`;
  } else if (p.post_caption) {
    const c = p.post_caption;
    const text = typeof c === 'string' ? c : String(c.text || '');
    const tags = Array.isArray(c.hashtags) ? c.hashtags.length : 0;
    line = `“${text.replace(/\s+/g, ' ').slice(0, 70)}${text.length > 70 ? '…' : ''}”${tags ? ` with ${count(tags, 'hashtag')}` : ''}`;
  } else if (Array.isArray(p.campaigns)) {
    const total = p.campaigns.reduce((s, c) => s + Number((c && c.total_usd) || 0), 0);
    line = `${count(p.campaigns.length, 'campaign')}, ${money(total)} in total`;
  } else if (Array.isArray(p.drafts)) {
    const to = p.drafts.map((d) => d && (d.handle || d.name)).filter(Boolean);
    line = `${count(p.drafts.length, 'DM')} to ${to.slice(0, 3).join(', ')}${to.length > 3 ? ', …' : ''}`;
  } else {
    line = Object.keys(p).filter((k) => !k.startsWith('approved_')).join(', ');
  }
  const by = p.approved_by && typeof p.approved_by === 'object' ? p.approved_by.name : p.approved_by;
  return by ? `${line}; approved by ${by}` : line;
}

export function mountOutbox(ctx) {
  return listPage(ctx, {
    title: 'Outbox',
    path: '/outbox',
    intro: 'What the actions sent. Nothing gets here without an approval of its gate.',
    fetchPage: (cursor) => api(withQuery('/api/outbox', { cursor, limit: 50 })),
    render: (page) => {
      const items = page.items || [];
      if (!items.length) return h('p', { class: 'empty panel' }, 'Nothing has been sent yet.');
      return table(['Sent', 'Run', 'Step', 'Action', 'Payload'], items.map((it) => h('tr', { 'data-action': it.action },
        h('td', { class: 'nowrap' }, timeAgo(it.sent_at)),
        h('td', null, it.run_id ? runLink(it.run_id) : '—'),
        h('td', null, h('code', null, it.step_key || '')),
        h('td', null, h('code', null, it.action || '')),
        h('td', { class: 'payload-cell', 'data-label': '' },
          h('p', { class: 'payload-summary' }, payloadSummary(it.action, it.payload)),
          h('details', null, h('summary', null, 'Payload'), h('pre', { class: 'payload' }, JSON.stringify(it.payload, null, 2)))))), { caption: 'Outbox', class: 'outbox' });
    },
  });
}
