// The approver agent page: per gate, what it learnt from and how often it
// agreed with people (shadow mode), and whether auto-approve is on.

import { h, replace, table, loading } from './dom.js';
import { api } from './api.js';
import { alertBox, pageHeading, retrying } from './nav.js';

const pct = (v) => (typeof v === 'number' ? `${(v * 100).toFixed(1)}%` : '—');

function autoApprove(a) {
  if (!a) return h('span', { class: 'muted' }, 'off');
  return h('span', { class: 'chip' }, `at ${Math.round(a.threshold * 100)}% or more${a.spend ? ', spend too' : ''}`);
}

export async function mount(ctx) {
  ctx.title('Approver agent');
  const error = alertBox();
  const body = h('div', null, loading());
  replace(ctx.main,
    h('div', { class: 'page-head' }, pageHeading('Approver agent')),
    h('p', { class: 'muted' },
      'It learns from every decision at each gate and predicts the next one on the card, whether or not anyone looks. ',
      'These are its numbers against the people who decided. It approves on its own only at gates your workspace opted in, ',
      'and never rejects.'),
    error.el, body);
  let stats;
  try {
    stats = await retrying(ctx, () => api('/api/approver/stats'), error);
  } catch {
    if (ctx.alive()) body.replaceChildren();
    return;
  }
  if (!ctx.alive()) return;
  const gates = stats.gates || [];
  if (!gates.length) {
    replace(body, h('p', { class: 'empty panel' }, 'No workflow has an approval gate.'));
    return;
  }
  replace(body,
    table(['Gate', 'Decisions', 'Learnt from', 'Predicted', 'Agreement', 'Precision', 'Recall', 'Auto-approved', 'Auto-approve'],
      gates.map((g) => h('tr', { 'data-gate': `${g.workflow}/${g.gate}` },
        h('td', null, h('strong', null, g.gate_label || g.gate), h('br'), h('span', { class: 'muted small' }, g.workflow)),
        h('td', { class: 'num' }, `${g.decisions} (${g.rejected} rejected)`),
        h('td', { class: 'num' }, g.learnt_from ? String(g.learnt_from) : h('span', { class: 'muted' }, 'too few yet')),
        h('td', { class: 'num' }, String(g.predicted)),
        h('td', { class: 'num agreement' }, pct(g.agreement)),
        h('td', { class: 'num' }, pct(g.precision)),
        h('td', { class: 'num' }, pct(g.recall)),
        h('td', { class: 'num' }, String(g.auto_approved)),
        h('td', null, autoApprove(g.auto_approve)))),
      { caption: 'The approver agent per gate', class: 'approver-stats', id: 'approver-stats' }),
    h('p', { class: 'muted small' },
      'Predicted: decisions made while its prediction was on the card. Agreement: how often the prediction matched the decision. ',
      'Precision: of the cards it expected rejected, the share people rejected. Recall: of the rejections, the share it expected. ',
      'A workspace admin opts a gate in with ',
      h('code', null, 'greenlight admin auto-approve'), '.'));
}
