// Brief page: start a run of a workflow from a form generated from the
// workflow's brief schema, or (with ?rerun_of=<run_id>) re-run a rejected
// run with notes. The server validates the brief; its 400 message, which
// names the field, is shown next to the form and the typed values stay.

import { h, replace, money, shortId, relative, loading } from './dom.js';
import { api, withQuery, ApiError, describe } from './api.js';
import { alertBox, pageHeading, retrying, navigate } from './nav.js';
import { renderValue } from './proposal.js';

// Field order: the important ones first, notes last.
const ORDER = ['title', 'goal', 'focus', 'products', 'budget_usd_per_day', 'campaign_days', 'launch_run_id'];
const LABELS = {
  title: 'Title',
  goal: 'Goal',
  focus: 'Focus',
  notes: 'Notes',
  products: 'Products',
  budget_usd_per_day: 'Ad budget per day (USD)',
  campaign_days: 'Campaign days',
  launch_run_id: 'Launch run',
};
const LONG = new Set(['goal', 'notes']);

function label(name) {
  if (LABELS[name]) return LABELS[name];
  const s = name.replace(/_/g, ' ');
  return s.charAt(0).toUpperCase() + s.slice(1);
}

/**
 * The schema as a list of fields [{name, type, required, description, ...}].
 * Accepts the recipes' flat form ({field: {type, required, ...}}) and a
 * JSON Schema object ({properties, required: [...]}).
 */
export function fieldsOf(schema) {
  if (!schema || typeof schema !== 'object') return [];
  let entries;
  if (schema.properties && typeof schema.properties === 'object') {
    const req = new Set(Array.isArray(schema.required) ? schema.required : []);
    entries = Object.entries(schema.properties).map(([name, s]) => {
      const f = { name, ...s, required: req.has(name) };
      if (s.type === 'array' && /product/.test(name)) f.type = 'product_ids';
      if (s.maxLength !== undefined) f.max_length = s.maxLength;
      if (s.minItems !== undefined) f.min_items = s.minItems;
      if (s.maxItems !== undefined) f.max_items = s.maxItems;
      return f;
    });
  } else {
    entries = Object.entries(schema).map(([name, s]) => ({ name, ...(s || {}), required: !!(s && s.required) }));
  }
  const rank = (f) => {
    const i = ORDER.indexOf(f.name);
    if (f.name === 'notes') return 1000;
    if (i >= 0) return i;
    return f.required ? 100 : 500;
  };
  return entries.sort((a, b) => rank(a) - rank(b) || a.name.localeCompare(b.name));
}

function fieldLabel(f, id) {
  return h('label', { for: id }, label(f.name), f.required ? h('span', { class: 'req', 'aria-hidden': 'true' }, ' *') : null);
}

/** One form control per field; returns {el, read(), focus()} . */
function control(f, ctxData, saved) {
  const id = `brief-${f.name}`;
  const hintId = `${id}-hint`;
  const hint = f.description ? h('p', { class: 'hint', id: hintId }, f.description) : null;
  const described = f.description ? hintId : null;

  if (f.type === 'product_ids') {
    const products = ctxData.products || [];
    const chosen = new Set(Array.isArray(saved) ? saved : []);
    const limits = [f.min_items ? `at least ${f.min_items}` : null, f.max_items ? `at most ${f.max_items}` : null].filter(Boolean).join(', ');
    const boxes = products.map((p) => h('input', { type: 'checkbox', id: `${id}-${p.id}`, name: f.name, value: p.id, checked: chosen.has(p.id) }));
    const fieldset = h('fieldset', { class: 'field products', id, 'aria-describedby': described },
      h('legend', null, label(f.name), f.required ? h('span', { class: 'req', 'aria-hidden': 'true' }, ' *') : null,
        limits ? h('span', { class: 'muted small' }, ` (${limits})`) : null),
      hint,
      products.length
        ? h('ul', { class: 'product-choices' }, products.map((p, i) => h('li', null,
          boxes[i],
          h('label', { for: `${id}-${p.id}` },
            h('span', { class: 'product-name' }, p.name || p.id),
            h('span', { class: 'muted' }, ` · ${money(p.price_usd)}`),
            p.category ? h('span', { class: 'muted small' }, ` · ${p.category}`) : null))))
        : h('p', { class: 'muted' }, 'No products in the catalog.'));
    return {
      el: fieldset,
      read: () => boxes.filter((b) => b.checked).map((b) => b.value),
      focus: () => (boxes[0] || fieldset).focus(),
      input: fieldset,
    };
  }

  if (f.type === 'run_id') {
    const runs = (ctxData.runs || []).filter((r) => !f.workflow || r.workflow === f.workflow);
    const select = h('select', { id, name: f.name, 'aria-describedby': described, required: f.required },
      f.required ? null : h('option', { value: '' }, 'None (use the latest post)'),
      runs.map((r) => h('option', { value: r.run_id }, `${r.title || r.workflow_name} · ${shortId(r.run_id)} · ${relative(r.created_at)}`)));
    if (saved) select.value = saved;
    return {
      el: h('div', { class: 'field' }, fieldLabel(f, id), select, hint),
      read: () => select.value,
      focus: () => select.focus(),
      input: select,
    };
  }

  if (f.type === 'number' || f.type === 'integer') {
    const input = h('input', {
      id,
      name: f.name,
      type: 'number',
      inputmode: f.type === 'integer' ? 'numeric' : 'decimal',
      min: f.minimum ?? f.exclusiveMinimum ?? null,
      max: f.maximum ?? null,
      step: f.type === 'integer' ? '1' : '0.01',
      required: f.required,
      'aria-describedby': described,
      '.value': saved ?? '',
    });
    return {
      el: h('div', { class: 'field short' }, fieldLabel(f, id), input, hint),
      read: () => input.value.trim(),
      focus: () => input.focus(),
      input,
    };
  }

  if (f.type === 'boolean') {
    const input = h('input', { id, name: f.name, type: 'checkbox', checked: !!saved, 'aria-describedby': described });
    return {
      el: h('div', { class: 'field check' }, input, h('label', { for: id }, label(f.name)), hint),
      read: () => input.checked,
      focus: () => input.focus(),
      input,
    };
  }

  // Strings (and anything unknown): a text input, or a textarea for long text.
  const long = LONG.has(f.name) || (f.max_length && f.max_length > 300) || (!f.max_length && /description|message|text/.test(f.name));
  const input = long
    ? h('textarea', { id, name: f.name, rows: f.name === 'notes' ? '4' : '3', maxlength: f.max_length || null, required: f.required, 'aria-describedby': described, '.value': saved ?? '' })
    : h('input', { id, name: f.name, type: 'text', maxlength: f.max_length || null, required: f.required, 'aria-describedby': described, '.value': saved ?? '' });
  return {
    el: h('div', { class: 'field' }, fieldLabel(f, id), input, hint),
    read: () => input.value,
    focus: () => input.focus(),
    input,
  };
}

/** The brief from the controls: empty optional fields left out, numbers converted. */
function collect(fields, controls) {
  const brief = {};
  for (const f of fields) {
    const v = controls[f.name].read();
    if (f.type === 'product_ids') {
      if (v.length || f.required) brief[f.name] = v;
    } else if (f.type === 'number' || f.type === 'integer') {
      if (v !== '') brief[f.name] = Number(v);
      else if (f.required) brief[f.name] = null;
    } else if (f.type === 'boolean') {
      brief[f.name] = v;
    } else if (typeof v === 'string') {
      if (v.trim() !== '') brief[f.name] = v.trim();
    }
  }
  return brief;
}

// ------------------------------------------------------------------ rerun

async function mountRerun(ctx, runId) {
  ctx.title('Re-run with notes');
  const error = alertBox({ id: 'brief-error' });
  const body = h('div', null, loading());
  replace(ctx.main, h('div', { class: 'page-head' }, pageHeading('Re-run with notes')), error.el, body);
  let run;
  try {
    run = await retrying(ctx, () => api(`/api/runs/${encodeURIComponent(runId)}`), error);
  } catch {
    if (ctx.alive()) body.replaceChildren();
    return;
  }
  if (!ctx.alive()) return;
  const title = run.brief && run.brief.title ? run.brief.title : run.run_id;
  const prefill = run.error || (Array.isArray(run.rejections) ? run.rejections.map((r) => `Rejected at ${r.step_label}: ${r.feedback}`).join('\n') : '');
  const notes = h('textarea', { id: 'rerun-notes', name: 'notes', rows: '5', maxlength: '4000', 'aria-describedby': 'rerun-hint', '.value': prefill });
  const submit = h('button', { type: 'submit', class: 'button primary' }, 'Start re-run');
  const form = h('form', {
    class: 'panel stack',
    novalidate: true,
    onsubmit: async (e) => {
      e.preventDefault();
      error.clear();
      submit.disabled = true;
      try {
        const res = await api('/api/runs', { method: 'POST', body: { rerun_of: run.run_id, notes: notes.value } });
        if (!ctx.alive()) return;
        navigate(`/runs/${encodeURIComponent(res.run_id)}`);
      } catch (err) {
        if (!ctx.alive()) return;
        error.show(describe(err));
        submit.disabled = false;
      }
    },
  },
  h('p', { class: 'lead' }, `Re-run of ${run.workflow_name || run.workflow}: ${title}`),
  h('p', { class: 'muted' }, 'A new run of the same workflow starts with the same brief; the rejection reason and your notes are added to the brief\'s notes.'),
  h('div', { class: 'field' },
    h('label', { for: 'rerun-notes' }, 'Notes'),
    notes,
    h('p', { class: 'hint', id: 'rerun-hint' }, 'Tell the agents what to change this time.')),
  h('div', { class: 'form-actions' }, submit, h('a', { href: `/runs/${encodeURIComponent(run.run_id)}` }, 'Back to the run')));
  replace(body, form,
    h('details', { class: 'panel' }, h('summary', null, 'The original brief'), renderValue(run.brief || {})));
}

// ------------------------------------------------------------------- new

export async function mount(ctx) {
  const rerunOf = ctx.query.get('rerun_of');
  if (rerunOf) {
    await mountRerun(ctx, rerunOf);
    return;
  }
  ctx.title('New run');
  const error = alertBox({ id: 'brief-error' });
  const body = h('div', null, loading());
  replace(ctx.main,
    h('div', { class: 'page-head' }, pageHeading('New run')),
    h('p', { class: 'muted' }, 'Choose a workflow and write its brief. The agents start at once; anything they want to publish, post, spend or send waits for an approval.'),
    body);

  let workflows;
  try {
    const wf = await retrying(ctx, () => api('/api/workflows'), error);
    workflows = (wf && wf.workflows) || [];
  } catch {
    if (ctx.alive()) replace(body, error.el);
    return;
  }
  if (!ctx.alive()) return;
  if (!workflows.length) {
    replace(body, h('p', { class: 'empty panel' }, 'No workflows are deployed.'));
    return;
  }

  // Data some controls need, fetched once when first needed.
  const data = {};
  async function ensureData(fields) {
    if (fields.some((f) => f.type === 'product_ids') && !data.products) {
      try {
        const p = await retrying(ctx, () => api('/api/catalog/products'), error);
        data.products = (p && p.products) || [];
      } catch {
        data.products = [];
      }
    }
    if (fields.some((f) => f.type === 'run_id') && !data.runs) {
      try {
        const r = await retrying(ctx, () => api(withQuery('/api/runs', { status: 'succeeded', limit: 50 })), error);
        data.runs = (r && r.runs) || [];
      } catch {
        data.runs = [];
      }
    }
  }

  const requested = ctx.query.get('workflow');
  const initial = workflows.find((w) => w.id === requested) || workflows.find((w) => w.id === 'campaign-launch') || workflows[0];
  const select = h('select', { id: 'brief-workflow', name: 'workflow' }, workflows.map((w) => h('option', { value: w.id }, w.name || w.id)));
  select.value = initial.id;
  const description = h('p', { class: 'muted' });
  const formBox = h('div');
  const saved = {}; // typed values, kept across workflow switches
  let current = null; // {fields, controls}

  replace(body,
    h('div', { class: 'panel' },
      h('div', { class: 'field' }, h('label', { for: 'brief-workflow' }, 'Workflow'), select),
      description),
    formBox);

  function remember() {
    if (!current) return;
    for (const f of current.fields) saved[f.name] = current.controls[f.name].read();
  }

  async function showForm(wf) {
    remember();
    description.textContent = wf.description || '';
    const gates = (wf.gates || []).map((g) => g.label || g.step_key);
    if (gates.length) description.append(` Approval gates: ${gates.join(', ')}.`);
    else description.append(' No approval gates: it acts on nothing.');
    const fields = fieldsOf(wf.brief_schema);
    replace(formBox, loading());
    await ensureData(fields);
    if (!ctx.alive() || select.value !== wf.id) return;
    const controls = {};
    for (const f of fields) controls[f.name] = control(f, data, saved[f.name]);
    current = { fields, controls };
    const submit = h('button', { type: 'submit', class: 'button primary' }, 'Start run');
    const form = h('form', {
      class: 'panel stack brief-form',
      id: 'brief-form',
      novalidate: true,
      onsubmit: async (e) => {
        e.preventDefault();
        error.clear();
        for (const c of Object.values(controls)) c.input.removeAttribute('aria-invalid');
        const brief = collect(fields, controls);
        submit.disabled = true;
        submit.setAttribute('aria-busy', 'true');
        try {
          const res = await api('/api/runs', { method: 'POST', body: { workflow: wf.id, brief } });
          if (!ctx.alive()) return;
          navigate(`/runs/${encodeURIComponent(res.run_id)}`);
        } catch (err) {
          if (!ctx.alive()) return;
          submit.disabled = false;
          submit.removeAttribute('aria-busy');
          error.show(describe(err));
          // Point at the field the message names, if any.
          if (err instanceof ApiError && err.status === 400) {
            const named = fields.find((f) => new RegExp(`\\b${f.name}\\b`).test(err.message));
            if (named) {
              controls[named.name].input.setAttribute('aria-invalid', 'true');
              controls[named.name].focus();
            }
          }
        }
      },
    },
    h('h2', { class: 'h3' }, `Brief for ${wf.name || wf.id}`),
    h('p', { class: 'muted small' }, h('span', { class: 'req', 'aria-hidden': 'true' }, '*'), ' required'),
    fields.map((f) => controls[f.name].el),
    error.el,
    h('div', { class: 'form-actions' }, submit));
    replace(formBox, form);
  }

  select.addEventListener('change', () => {
    const wf = workflows.find((w) => w.id === select.value);
    history.replaceState(null, '', withQuery('/brief', { workflow: wf.id }));
    error.clear();
    showForm(wf);
  });
  await showForm(initial);
}
