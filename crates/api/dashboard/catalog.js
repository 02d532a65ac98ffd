// Catalog page: the workflows (recipes with their gates and graph), the
// agents and what they output, and the workspace's products.

import { h, replace, money, table, loading } from './dom.js';
import { api } from './api.js';
import { alertBox, pageHeading, retrying } from './nav.js';
import { renderDag } from './dag.js';
import { fieldsOf } from './brief.js';

const KIND_WORDS = { agent: 'agent', approval_gate: 'approval gate', action: 'action', synthesis: 'synthesis' };
const GENERIC = 4; // the seed's generic checklist items, shown once above

function policyText(gate) {
  const p = gate.policy;
  if (!p || !p.required_role) return 'any member';
  return p.when_spend_over_usd !== undefined && p.when_spend_over_usd !== null
    ? `${p.required_role} when spend is over ${money(p.when_spend_over_usd)}`
    : p.required_role;
}

function workflowCard(w) {
  const graph = Array.isArray(w.graph) ? w.graph : [];
  const gates = Array.isArray(w.gates) ? w.gates : [];
  const fields = fieldsOf(w.brief_schema);
  return h('article', { class: 'panel workflow', id: `workflow-${w.id}`, 'data-workflow': w.id },
    h('div', { class: 'section-head' },
      h('h3', null, w.name || w.id),
      h('a', { class: 'button primary', href: `/brief?workflow=${encodeURIComponent(w.id)}` }, 'Start a run')),
    h('p', null, w.description || ''),
    graph.length
      ? h('div', { class: 'dag-wrap small-dag' }, renderDag(
        graph.map((n) => ({ key: n.key, label: n.label, kind: n.kind, after: n.after })),
        { caption: `Graph of ${w.name || w.id}`, subtitle: (n) => KIND_WORDS[n.kind] || n.kind || '' }))
      : null,
    gates.length
      ? table(['Gate', 'Shows', 'Blocking', 'Who may decide', 'Gate checklist'], gates.map((g) => h('tr', { 'data-step-key': g.step_key },
        h('th', { scope: 'row' }, g.label || g.step_key),
        h('td', null, h('code', null, g.target_output_field || '—')),
        h('td', null, g.blocking === false ? 'no' : 'yes'),
        h('td', null, policyText(g)),
        h('td', null, h('ul', { class: 'plain-list' },
          (g.checklist || []).slice((g.checklist || []).length > GENERIC ? GENERIC : 0).map((c) => h('li', null, c)))))), { caption: 'Approval gates' })
      : h('p', { class: 'muted' }, 'No approval gates: this workflow acts on nothing.'),
    fields.length
      ? h('details', null, h('summary', null, 'Brief fields'),
        h('dl', { class: 'kv' }, fields.flatMap((f) => [
          h('dt', null, h('code', null, f.name), f.required ? ' (required)' : ''),
          h('dd', null, `${f.type || 'string'}${f.description ? `: ${f.description}` : ''}`)])))
      : null);
}

export async function mount(ctx) {
  ctx.title('Catalog');
  const error = alertBox();
  const body = h('div', null, loading());
  replace(ctx.main, h('div', { class: 'page-head' }, pageHeading('Catalog')), error.el, body);

  let wf;
  let agents;
  let products;
  try {
    [wf, agents, products] = await retrying(ctx, () => Promise.all([
      api('/api/workflows'),
      api('/api/agents'),
      api('/api/catalog/products'),
    ]), error);
  } catch {
    if (ctx.alive()) body.replaceChildren();
    return;
  }
  if (!ctx.alive()) return;
  const workflows = (wf && wf.workflows) || [];
  const agentList = (agents && agents.agents) || [];
  const productList = (products && products.products) || [];
  const generic = workflows.flatMap((w) => w.gates || []).find((g) => (g.checklist || []).length > GENERIC);

  replace(body,
    h('nav', { class: 'toc', 'aria-label': 'On this page' },
      h('a', { href: '#workflows' }, 'Workflows'), h('a', { href: '#agents' }, 'Agents'), h('a', { href: '#products' }, 'Products')),
    h('section', { id: 'workflows', 'aria-labelledby': 'workflows-title' },
      h('h2', { id: 'workflows-title' }, 'Workflows'),
      generic ? h('p', { class: 'muted' }, 'Every gate\'s card also asks: ', generic.checklist.slice(0, GENERIC).join(' ')) : null,
      workflows.map(workflowCard)),
    h('section', { id: 'agents', 'aria-labelledby': 'agents-title' },
      h('h2', { id: 'agents-title' }, 'Agents'),
      table(['Agent', 'What it does', 'Outputs', 'Studio'], agentList.map((a) => h('tr', { 'data-agent': a.id },
        h('th', { scope: 'row' }, a.name || a.id),
        h('td', null, a.description || ''),
        h('td', null, (a.outputs || []).map((o, i) => [i ? ' ' : '', h('code', null, o)])),
        h('td', null, a.uses_studio ? 'uses Studio' : '—'))), { caption: 'Agents' })),
    h('section', { id: 'products', 'aria-labelledby': 'products-title' },
      h('h2', { id: 'products-title' }, 'Products'),
      productList.length
        ? table(['Product', 'Category', 'Price'], productList.map((p) => h('tr', { 'data-product-id': p.id },
          h('th', { scope: 'row' }, p.name || p.id, h('div', { class: 'muted small mono' }, p.id)),
          h('td', null, p.category || '—'),
          h('td', { class: 'num' }, money(p.price_usd)))), { caption: 'Products' })
        : h('p', { class: 'muted' }, 'No products in this workspace.')));
}
