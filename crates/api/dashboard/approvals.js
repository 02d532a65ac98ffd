// Approvals page: every pending approval of the workspace, newest first,
// filtered by workflow and gate, refreshed on live events and every 3 s.

import { h, replace, keepFocus, money, timeAgo, runLink, loading, labelCells } from './dom.js';
import { api, withQuery } from './api.js';
import { liveList } from './live.js';
import { alertBox, cursorPages, pageHeading, reportApprovals, retrying } from './nav.js';

export async function mount(ctx) {
  ctx.title('Approvals');
  const state = {
    workflow: ctx.query.get('workflow') || '',
    gate: ctx.query.get('gate') || '',
    workflows: [],
  };
  const error = alertBox();
  const summary = h('p', { class: 'muted', 'aria-live': 'polite' });
  const wfSelect = h('select', { id: 'filter-workflow', name: 'workflow' }, h('option', { value: '' }, 'All'));
  const gateSelect = h('select', { id: 'filter-gate', name: 'gate' }, h('option', { value: '' }, 'All'));
  const list = h('div', { class: 'approvals-list' }, loading());
  const pages = cursorPages(ctx, {
    path: () => withQuery('/approvals', { workflow: state.workflow, gate: state.gate }),
    list,
    reload: () => refresh.reload(),
  });

  replace(ctx.main,
    h('div', { class: 'page-head' },
      pageHeading('Approvals'),
      summary),
    h('form', { class: 'filters', onsubmit: (e) => e.preventDefault() },
      h('div', { class: 'field inline' }, h('label', { for: 'filter-workflow' }, 'Workflow'), wfSelect),
      h('div', { class: 'field inline' }, h('label', { for: 'filter-gate' }, 'Gate'), gateSelect)),
    error.el,
    list,
    pages.el);

  function fillGates() {
    const keep = state.gate;
    const opts = [h('option', { value: '' }, 'All')];
    const chosen = state.workflows.filter((w) => !state.workflow || w.id === state.workflow);
    for (const w of chosen) {
      const gates = (w.gates || []).map((g) => h('option', { value: g.step_key }, g.label || g.step_key));
      if (!gates.length) continue;
      opts.push(state.workflow ? gates : h('optgroup', { label: w.name || w.id }, gates));
    }
    replace(gateSelect, opts);
    gateSelect.value = keep;
    if (gateSelect.value !== keep) state.gate = '';
    gateSelect.disabled = gateSelect.options.length <= 1;
  }

  function syncUrl() {
    history.replaceState(null, '', withQuery('/approvals', { workflow: state.workflow, gate: state.gate }));
  }

  function renderRows(page) {
    const items = page.approvals || [];
    const n = items.length;
    summary.textContent = n === 0
      ? (state.workflow || state.gate ? 'Nothing waiting for these filters.' : 'Nothing waiting.')
      : pages.page() > 1
        ? `Page ${pages.page()}: ${n} waiting for a decision, newest first.`
        : `${n}${page.next_cursor ? '+' : ''} waiting for a decision, newest first.`;
    keepFocus(list, () => {
      if (n === 0 && pages.page() > 1) {
        replace(list, h('div', { class: 'empty panel' },
          h('p', { class: 'empty-title' }, 'Nothing left on this page.'),
          h('p', { class: 'muted' }, 'These approvals were decided meanwhile. ', h('a', { href: '/approvals' }, 'Back to the first page'), '.')));
        return;
      }
      if (n === 0) {
        replace(list, h('div', { class: 'empty panel' },
          h('p', { class: 'empty-title' }, 'Nothing waiting for approval.'),
          h('p', { class: 'muted' }, 'New proposals appear here as soon as an agent reaches a gate. ',
            h('a', { href: '/brief' }, 'Start a run'), '.')));
        return;
      }
      const tableEl = h('table', { class: 'table approvals stack-sm', id: 'approvals-table' },
        h('thead', null, h('tr', null,
          ['Workflow', 'Gate', 'Run', 'Waiting', 'Proposal', 'Spend', ''].map((t, i) =>
            h('th', { scope: 'col', class: i === 5 ? 'num' : null }, t || h('span', { class: 'visually-hidden' }, 'Action'))))),
        h('tbody', null, items.map((a) => h('tr', { 'data-step-id': a.step_id, 'data-step-key': a.step_key },
          h('td', null, a.workflow_name || a.workflow),
          h('td', null, h('strong', null, a.step_label || a.step_key)),
          h('td', { class: 'run-cell' },
            a.run_title ? h('span', { class: 'run-title' }, a.run_title) : null,
            runLink(a.run_id, { 'data-focus-key': `run:${a.step_id}` })),
          h('td', { class: 'nowrap' }, timeAgo(a.created_at)),
          h('td', { class: 'summary' }, a.summary || ''),
          h('td', { class: 'num nowrap' },
            a.proposed_spend_usd !== null && a.proposed_spend_usd !== undefined ? money(a.proposed_spend_usd) : h('span', { class: 'muted' }, '—'),
            a.proposed_daily_usd ? h('div', { class: 'muted small' }, `${money(a.proposed_daily_usd)}/day`) : null,
            a.required_role ? h('div', null, h('span', { class: 'chip role' }, `needs ${a.required_role}`)) : null),
          h('td', { class: 'actions', 'data-label': '' },
            h('a', {
              class: 'button primary review-link',
              href: `/review/${encodeURIComponent(a.step_id)}`,
              'data-focus-key': `review:${a.step_id}`,
            }, 'Review'))))));
      replace(list, h('div', { class: 'table-wrap' }, labelCells(tableEl)));
    });
    pages.render(page.next_cursor);
  }

  async function load() {
    const cursor = pages.cursor();
    const query = { workflow: state.workflow, gate: state.gate, cursor, limit: 50 };
    const page = await retrying(ctx, () => api(withQuery('/api/dashboard/approvals', query)), error);
    if (ctx.alive() && !state.workflow && !state.gate && !cursor) reportApprovals(page);
    return page;
  }

  const refresh = liveList(ctx, 3000, load, renderRows);

  wfSelect.addEventListener('change', () => {
    state.workflow = wfSelect.value;
    state.gate = '';
    pages.reset();
    fillGates();
    syncUrl();
    refresh.reload();
  });
  gateSelect.addEventListener('change', () => {
    state.gate = gateSelect.value;
    pages.reset();
    syncUrl();
    refresh.reload();
  });

  refresh.trigger();

  // Filter options (the list does not wait for them).
  try {
    const wf = await retrying(ctx, () => api('/api/workflows'), null);
    if (!ctx.alive()) return;
    state.workflows = (wf && wf.workflows) || [];
    replace(wfSelect, h('option', { value: '' }, 'All'),
      state.workflows.map((w) => h('option', { value: w.id }, w.name || w.id)));
    wfSelect.value = state.workflow;
    if (wfSelect.value !== state.workflow) state.workflow = '';
    fillGates();
  } catch {
    // Without the recipes the filters stay at "All".
  }
}
