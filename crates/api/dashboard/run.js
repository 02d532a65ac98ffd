// Run page: the live DAG of one run, its steps, its events and, once it
// succeeded, its synthesis report. While the run is running it polls
// /events?after=<last seq> every second (sooner on live events of this run)
// and refetches the run whenever something new happened.

import { h, replace, keepFocus, badge, cost, timeAgo, runLink, humanize, loading, labelCells, waitingSince } from './dom.js';
import { api, withQuery, poller, ApiError } from './api.js';
import { onLiveEvent } from './live.js';
import { renderDag } from './dag.js';
import { renderMarkdown } from './markdown.js';
import { renderValue } from './proposal.js';
import { alertBox, pageHeading, retrying, navigate, showNotFound } from './nav.js';
import { canRerun, rerunButton } from './runs.js';

const KIND_WORDS = { agent: 'agent', approval_gate: 'approval gate', action: 'action', synthesis: 'synthesis' };
const reviewPath = (step) => `/review/${encodeURIComponent(step.step_id)}`;

/** "Approved by Alice Moreau" + time + comment, or "Rejected by …" + feedback. */
export function decisionSummary(decision) {
  if (!decision) return null;
  const who = (decision.actor && (decision.actor.name || decision.actor.member_id)) || 'someone';
  const approved = decision.verdict === 'approved';
  return h('div', { class: ['decision-inline', approved ? 'approved' : 'rejected'] },
    h('span', null, `${approved ? 'Approved' : 'Rejected'} by ${who} `), timeAgo(decision.at),
    decision.comment ? h('blockquote', { class: 'quote' }, decision.comment) : null,
    decision.feedback ? h('blockquote', { class: 'quote feedback' }, decision.feedback) : null);
}

function eventDetail(e) {
  const d = e.data || {};
  const bits = [];
  if (d.actor && d.actor.name) bits.push(h('span', { class: 'actor' }, d.actor.name));
  const text = d.error || d.reason || d.feedback || d.comment || d.summary || null;
  if (text) bits.push(h('span', { class: 'muted' }, ` ${text}`));
  return bits;
}

export async function mount(ctx) {
  const runId = ctx.params[0];
  ctx.title('Run');
  const error = alertBox();
  const heading = pageHeading('Run');
  const meta = h('div', { class: 'meta-row' });
  const runError = h('div', { id: 'run-error', class: 'run-error', role: 'alert' });
  runError.hidden = true;
  const notice = h('div');
  const dagBox = h('div', { class: 'dag-wrap' }, loading());
  const waiting = h('div', { class: 'waiting' });
  const steps = h('div');
  const eventList = h('ol', { class: 'events', id: 'run-events' });
  const eventCount = h('span', { class: 'muted small' });
  const report = h('section', { class: 'panel report', id: 'run-report', hidden: true });
  const body = h('div', { class: 'run-body' });

  replace(ctx.main,
    h('p', { class: 'crumbs' }, h('a', { href: '/runs' }, '← All runs')),
    h('div', { class: 'page-head' }, heading),
    body);
  replace(body,
    meta,
    error.el,
    runError,
    notice,
    h('section', { class: 'panel', 'aria-labelledby': 'dag-title' },
      h('h2', { id: 'dag-title', class: 'h3' }, 'Workflow'),
      dagBox,
      waiting),
    report,
    h('section', { class: 'panel', 'aria-labelledby': 'steps-title' },
      h('h2', { id: 'steps-title', class: 'h3' }, 'Steps'),
      steps),
    h('section', { class: 'panel', 'aria-labelledby': 'events-title' },
      h('h2', { id: 'events-title', class: 'h3' }, 'Events ', eventCount, h('span', { class: 'muted small normal' }, ' newest first')),
      h('div', { class: 'events-wrap' }, eventList)));

  const state = { run: null, lastSeq: 0, seen: new Set(), lastRunText: null, reportLoaded: false };

  // ------------------------------------------------------------ rendering

  function renderHeader(r) {
    const title = r.brief && r.brief.title ? `${r.workflow_name || r.workflow}: ${r.brief.title}` : (r.workflow_name || r.workflow);
    heading.textContent = title;
    ctx.title(title);
    replace(meta,
      badge(r.status),
      h('span', null, 'Created ', timeAgo(r.created_at), r.created_by && r.created_by.name ? ` by ${r.created_by.name}` : ''),
      r.finished_at ? h('span', null, 'Finished ', timeAgo(r.finished_at)) : null,
      h('span', { title: 'Compute cost: LLM tokens and Studio renders (estimated for the offline model)' },
        'Cost ', h('strong', { id: 'run-cost' }, cost(r.cost_usd)), ' (estimated)'),
      h('span', { class: 'mono muted', title: r.run_id }, r.run_id),
      r.rerun_of ? h('span', null, 'Re-run of ', runLink(r.rerun_of)) : null);

    if (r.status === 'failed') {
      replace(runError,
        h('p', { class: 'run-error-text' }, h('strong', null, 'Run failed: '), r.error || 'the run failed.'),
        canRerun(r) ? rerunButton(r.run_id) : null);
      runError.hidden = false;
    } else {
      runError.replaceChildren();
      runError.hidden = true;
    }
    const partial = r.status === 'succeeded' && Array.isArray(r.rejections) && r.rejections.length;
    replace(notice, partial
      ? h('div', { class: 'notice warn' },
        h('strong', null, 'Partial failure: '),
        r.rejections.map((x, i) => [i ? '; ' : '', `rejected at ${x.step_label}: ${x.feedback}`]))
      : null);
  }

  function renderGraph(r) {
    const nodes = (r.steps || []).map((s) => ({ key: s.step_key, label: s.label, kind: s.kind, after: s.after, status: s.status, step_id: s.step_id }));
    keepFocus(dagBox, () => {
      replace(dagBox, renderDag(nodes, {
        caption: `Steps of this run (${nodes.length})`,
        activate: (n) => (n.kind === 'approval_gate' && n.step_id && !['pending', 'skipped'].includes(n.status)
          ? () => navigate(reviewPath(n))
          : null),
      }));
      // Focus keys for the SVG nodes so a refresh keeps the focused one.
      for (const g of dagBox.querySelectorAll('g.node[tabindex]')) g.setAttribute('data-focus-key', `node:${g.getAttribute('data-step-key')}`);
    });
    const gates = (r.steps || []).filter((s) => s.kind === 'approval_gate' && s.status === 'waiting_for_approval');
    keepFocus(waiting, () => {
      if (gates.length) {
        replace(waiting,
          h('h3', { class: 'h4' }, 'Waiting for you'),
          h('ul', { class: 'waiting-list', id: 'waiting-list' }, gates.map((s) => h('li', null,
            h('a', {
              class: 'button primary review-link',
              href: reviewPath(s),
              'data-step-key': s.step_key,
              'data-focus-key': `wait:${s.step_key}`,
            }, `Review ${s.label}`),
            ' ', h('span', { class: 'muted small' }, waitingSince(s.started_at))))));
      } else if (r.status === 'running') {
        replace(waiting, h('p', { class: 'muted' }, 'Nothing waiting for approval in this run right now; agents are working.'));
      } else {
        waiting.replaceChildren();
      }
    });
  }

  function renderSteps(r) {
    const COLS = 7;
    const open = new Set([...steps.querySelectorAll('tr[data-output-of] details[open]')].map((d) => d.closest('tr').getAttribute('data-output-of')));
    const rows = (r.steps || []).flatMap((s) => {
      const feedback = !s.decision && s.output && s.output.feedback ? h('blockquote', { class: 'quote feedback' }, String(s.output.feedback)) : null;
      const row = h('tr', { 'data-step-key': s.step_key, 'data-status': s.status },
        h('th', { scope: 'row' }, s.label || s.step_key,
          s.kind === 'approval_gate' && s.step_id && s.status !== 'pending'
            ? h('div', null, h('a', { class: 'small', href: reviewPath(s) }, s.status === 'waiting_for_approval' ? 'Review' : 'Open card'))
            : null),
        h('td', null, KIND_WORDS[s.kind] || humanize(s.kind || '')),
        h('td', null, badge(s.status)),
        h('td', { class: 'num' }, cost(s.cost_usd)),
        h('td', { class: 'nowrap' }, s.started_at ? timeAgo(s.started_at) : h('span', { class: 'muted' }, '—')),
        h('td', { class: 'nowrap' }, s.finished_at ? timeAgo(s.finished_at) : h('span', { class: 'muted' }, '—')),
        h('td', { class: 'decision-cell' }, decisionSummary(s.decision), feedback));
      if (!s.output || s.kind === 'approval_gate') return [row];
      // The output gets the table's full width, in a row of its own under its step.
      const det = h('details', { class: 'output', open: open.has(s.step_key) },
        h('summary', { 'data-focus-key': `output:${s.step_key}` }, `Output of ${s.label || s.step_key}`));
      const fill = () => {
        if (det.open && det.children.length === 1) det.appendChild(h('div', { class: 'output-body' }, renderValue(s.output)));
      };
      det.addEventListener('toggle', fill);
      fill();
      return [row, h('tr', { class: 'output-row', 'data-output-of': s.step_key },
        h('td', { colspan: String(COLS), 'data-label': '' }, det))];
    });
    const tableEl = h('table', { class: 'table steps stack-sm', id: 'steps-table' },
      h('thead', null, h('tr', null, ['Step', 'Kind', 'Status', 'Cost', 'Started', 'Finished', 'Decision'].map((t, i) =>
        h('th', { scope: 'col', class: i === 3 ? 'num' : null }, t)))),
      h('tbody', null, rows),
      h('tfoot', null, h('tr', { class: 'total-row' },
        h('th', { scope: 'row', colspan: '3' }, 'Total (estimated)'),
        h('td', { class: 'num', 'data-label': '' }, h('strong', null, cost(r.cost_usd))),
        h('td', { colspan: '3', class: 'filler' }))));
    keepFocus(steps, () => {
      replace(steps, h('div', { class: 'table-wrap' }, labelCells(tableEl)));
    });
  }

  function addEvents(events) {
    let added = 0;
    for (const e of events || []) {
      if (typeof e.seq !== 'number' || state.seen.has(e.seq)) continue;
      state.seen.add(e.seq);
      state.lastSeq = Math.max(state.lastSeq, e.seq);
      added++;
      const d = e.data || {};
      const item = h('li', { 'data-seq': e.seq, 'data-type': e.type },
        h('span', { class: 'event-time' }, timeAgo(e.at)),
        h('code', { class: 'event-type' }, e.type),
        h('span', { class: 'event-step' }, d.label || d.step_key || ''),
        h('span', { class: 'event-detail' }, eventDetail(e)));
      // Newest first: before the first event older than this one.
      const later = [...eventList.children].find((li) => Number(li.getAttribute('data-seq')) < e.seq);
      eventList.insertBefore(item, later || null);
    }
    eventCount.textContent = `(${state.seen.size})`;
    return added;
  }

  async function loadReport(attempt = 0) {
    if (state.reportLoaded) return;
    try {
      const rep = await retrying(ctx, () => api(`/api/runs/${encodeURIComponent(runId)}/report`), null);
      if (!ctx.alive()) return;
      state.reportLoaded = true;
      const comments = Array.isArray(rep.approver_comments) ? rep.approver_comments : [];
      const rejections = Array.isArray(rep.rejections) ? rep.rejections : [];
      replace(report,
        h('h2', { class: 'h3' }, 'Report'),
        renderMarkdown(rep.markdown || '', 3),
        // Comments and feedback are people's words: plain text, quoted the
        // same way the report's Decisions section quotes them.
        comments.length ? h('div', { class: 'approver-comments' },
          h('h3', { class: 'h4' }, 'Approver comments'),
          h('ul', { id: 'approver-comments', class: 'quoted-list' }, comments.map((c) => h('li', null,
            h('strong', null, c.step_label || ''), `: ${c.actor || 'someone'}`,
            h('blockquote', { class: 'report-quote' }, c.comment || ''))))) : null,
        rejections.length ? h('div', { class: 'report-rejections' },
          h('h3', { class: 'h4' }, 'Rejections'),
          h('ul', { class: 'quoted-list' }, rejections.map((x) => h('li', null,
            h('strong', null, x.step_label || ''),
            h('blockquote', { class: 'report-quote feedback' }, x.feedback || ''))))) : null);
      report.hidden = false;
    } catch (err) {
      // 409 no_report: the report is not written yet; look again shortly.
      if (err instanceof ApiError && err.code === 'no_report' && attempt < 5 && ctx.alive()) {
        setTimeout(() => ctx.alive() && loadReport(attempt + 1), 2000);
      }
    }
  }

  function renderRun(r) {
    const text = JSON.stringify(r);
    if (text === state.lastRunText) return;
    state.lastRunText = text;
    state.run = r;
    renderHeader(r);
    renderGraph(r);
    renderSteps(r);
  }

  // -------------------------------------------------------------- loading

  const fetchRun = () => api(`/api/runs/${encodeURIComponent(runId)}`);
  const fetchEvents = () => api(withQuery(`/api/runs/${encodeURIComponent(runId)}/events`, { after: state.lastSeq }));

  // Events first (all pages), then the run: the run is then at least as
  // recent as the last event seen, so the poll below misses nothing.
  let run;
  try {
    for (let n = 0; n < 50; n++) {
      const page = await retrying(ctx, fetchEvents, error);
      if (!ctx.alive()) return;
      if (!addEvents(page && page.events)) break;
    }
    run = await retrying(ctx, fetchRun, error);
  } catch (err) {
    if (!ctx.alive()) return;
    if (err instanceof ApiError && err.status === 404) {
      showNotFound(ctx, { heading, body, box: error, title: 'Run not found',
        sentence: 'This run does not exist in your workspace.', links: [['/runs', 'See all runs'], ['/brief', 'Start a new run']] });
    } else if (!(err instanceof ApiError && err.status === 401)) {
      replace(dagBox, h('p', { class: 'muted' }, 'The run could not be loaded.'));
    }
    return;
  }
  if (!ctx.alive()) return;
  renderRun(run);
  if (state.run.status === 'succeeded') loadReport();
  if (state.run.status !== 'running') return;

  let ticks = 0;
  const live = poller(async () => {
    const page = await fetchEvents();
    if (!ctx.alive()) return;
    const added = addEvents(page && page.events);
    // Refetch the run on news, and every 15 s anyway as a safety net.
    ticks += 1;
    if (!added && ticks % 15 !== 0) return;
    const r = await fetchRun();
    if (!ctx.alive()) return;
    renderRun(r);
    if (r.status !== 'running') {
      live.stop();
      if (r.status === 'succeeded') loadReport();
    }
  }, 1000);
  ctx.onCleanup(live.stop);
  ctx.onCleanup(onLiveEvent((e) => {
    if (e.run_id === runId) live.trigger();
  }));
  live.trigger();
}
