// Runs page: the workspace's runs, newest first, filtered by status.

import { h, replace, keepFocus, badge, cost, timeAgo, runLink, loading, labelCells } from './dom.js';
import { api, withQuery } from './api.js';
import { liveList } from './live.js';
import { alertBox, cursorPages, pageHeading, retrying, navigate } from './nav.js';

/** A failed run that a person rejected can be re-run with notes. */
export function canRerun(r) {
  return r.status === 'failed' && typeof r.error === 'string' && r.error.startsWith('Rejected at');
}

/** The "Re-run with notes" button for a run. */
export function rerunButton(runId, attrs = {}) {
  return h('button', {
    type: 'button',
    class: 'button rerun',
    onclick: () => navigate(`/brief?rerun_of=${encodeURIComponent(runId)}`),
    ...attrs,
  }, 'Re-run with notes');
}

/** "running", or "running · 2 waiting" when gates wait. */
export function runStatus(r) {
  const waiting = r.pending_approvals || 0;
  if (r.status === 'running' && waiting > 0) {
    return h('span', { class: 'status-cell' }, badge('running'), ' ', badge('waiting_for_approval', `${waiting} waiting`));
  }
  return badge(r.status);
}

export async function mount(ctx) {
  ctx.title('Runs');
  const state = { status: ctx.query.get('status') || '' };
  const error = alertBox();
  const select = h('select', { id: 'filter-status', name: 'status' },
    [['', 'All'], ['running', 'Running'], ['succeeded', 'Succeeded'], ['failed', 'Failed']].map(([v, t]) => h('option', { value: v }, t)));
  select.value = state.status;
  const list = h('div', null, loading());
  const pages = cursorPages(ctx, {
    path: () => withQuery('/runs', { status: state.status }),
    list,
    reload: () => refresh.reload(),
  });

  replace(ctx.main,
    h('div', { class: 'page-head' },
      pageHeading('Runs'),
      h('a', { class: 'button primary', href: '/brief' }, 'New run')),
    h('form', { class: 'filters', onsubmit: (e) => e.preventDefault() },
      h('div', { class: 'field inline' }, h('label', { for: 'filter-status' }, 'Status'), select)),
    error.el,
    list,
    pages.el);

  function render(page) {
    const runs = page.runs || [];
    keepFocus(list, () => {
      if (!runs.length) {
        replace(list, h('div', { class: 'empty panel' },
          h('p', { class: 'empty-title' }, pages.page() > 1 ? 'No more runs.' : state.status ? `No ${state.status} runs.` : 'No runs yet.'),
          h('p', null, h('a', { href: '/brief' }, 'Start a run'), '.')));
        return;
      }
      const tableEl = h('table', { class: 'table runs stack-sm', id: 'runs-table' },
        h('thead', null, h('tr', null, ['Run', 'Workflow', 'Brief', 'Status', 'Created', 'Cost', 'Error'].map((t, i) =>
          h('th', { scope: 'col', class: i === 5 ? 'num' : null }, t)))),
        h('tbody', null, runs.map((r) => h('tr', { 'data-run-id': r.run_id, 'data-status': r.status },
          h('td', null, runLink(r.run_id, { 'data-focus-key': `run:${r.run_id}` })),
          h('td', null, r.workflow_name || r.workflow),
          h('td', { class: 'title-cell' }, r.title || h('span', { class: 'muted' }, '—')),
          h('td', null, runStatus(r)),
          h('td', { class: 'nowrap' }, timeAgo(r.created_at)),
          h('td', { class: 'num' }, cost(r.cost_usd)),
          h('td', { class: 'error-cell' },
            r.error ? h('span', { class: 'error-text' }, r.error) : null,
            canRerun(r) ? h('div', null, rerunButton(r.run_id, { 'data-focus-key': `rerun:${r.run_id}` })) : null)))));
      replace(list, h('div', { class: 'table-wrap' }, labelCells(tableEl)));
    });
    pages.render(page.next_cursor);
  }

  const load = () => retrying(ctx, () => api(withQuery('/api/runs', { status: state.status, cursor: pages.cursor(), limit: 50 })), error);
  const refresh = liveList(ctx, 5000, load, render);
  select.addEventListener('change', () => {
    state.status = select.value;
    pages.reset();
    history.replaceState(null, '', withQuery('/runs', { status: state.status }));
    refresh.reload();
  });
  refresh.trigger();
}
