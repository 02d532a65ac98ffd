// Brief page: start a run of a workflow from a form generated from the
// workflow's brief schema, or (with ?rerun_of=<run_id>) re-run a rejected
// run with notes. The form checks the brief against the schema first and
// shows every problem at once, next to its field; the server validates it
// again, and its 400 message is shown with the field's label, not its path.

import { h, replace, money, shortId, relative, loading, runLink } from './dom.js';
import { api, withQuery, ApiError, NetworkError, describe } from './api.js';
import { alertBox, pageHeading, retrying, navigate, showNotFound } from './nav.js';
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

/** The form's label of a brief field ("budget_usd_per_day" → "Ad budget per day (USD)"). */
export function label(name) {
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
  return entries.sort((a, b) => rank(a) - rank(b) || a.name.localeCompare(b.name));
}

function rank(f) {
  const i = ORDER.indexOf(f.name);
  if (f.name === 'notes') return 1000;
  if (i >= 0) return i;
  return f.required ? 100 : 500;
}

/**
 * A brief as the form would show it: the form's labels, product names
 * (from `products`, the workspace's catalog, when known) instead of ids,
 * money as money. Everything is text.
 */
export function renderBrief(brief, { products = null } = {}) {
  if (!brief || typeof brief !== 'object' || Array.isArray(brief)) return renderValue(brief);
  const names = new Map((products || []).map((p) => [p.id, p.name || p.id]));
  const keys = Object.keys(brief).sort((a, b) => rank({ name: a, required: true }) - rank({ name: b, required: true }) || a.localeCompare(b));
  if (!keys.length) return h('span', { class: 'muted' }, 'empty');
  return h('dl', { class: 'kv brief-kv' }, keys.flatMap((k) => {
    const v = brief[k];
    let value;
    if (k === 'products' && Array.isArray(v)) {
      value = h('ul', { class: 'plain-list' }, v.map((id) => h('li', { title: String(id) }, names.get(id) || String(id))));
    } else if (k.endsWith('_usd') || k.includes('_usd_')) {
      value = typeof v === 'number' ? money(v) : renderValue(v, 1);
    } else if (k === 'launch_run_id' && typeof v === 'string' && v) {
      value = runLink(v);
    } else {
      value = renderValue(v, 1);
    }
    return [h('dt', null, label(k)), h('dd', null, value)];
  }));
}

const num = (n) => Number(n).toLocaleString('en-US', { maximumFractionDigits: 10 });
const chars = (s) => Array.from(String(s)).length;

/**
 * Every problem of the form's values against the schema, as
 * [{name, text}] with text like "Title: is required".
 */
function validate(fields, controls) {
  const problems = [];
  const add = (f, text) => problems.push({ name: f.name, text: `${label(f.name)}: ${text}` });
  for (const f of fields) {
    const c = controls[f.name];
    const v = c.read();
    if (f.type === 'product_ids') {
      const min = f.min_items || (f.required ? 1 : 0);
      if (v.length < min) add(f, min === 1 ? 'choose at least one product' : `choose at least ${min} products`);
      else if (f.max_items && v.length > f.max_items) add(f, `choose at most ${f.max_items} products (${v.length} chosen)`);
    } else if (f.type === 'number' || f.type === 'integer') {
      if (c.bad && c.bad()) {
        add(f, f.type === 'integer' ? 'must be a whole number' : 'must be a number');
        continue;
      }
      if (v === '') {
        if (f.required) add(f, 'is required');
        continue;
      }
      const n = Number(v);
      if (!Number.isFinite(n)) add(f, 'must be a number');
      else if (f.type === 'integer' && !Number.isInteger(n)) add(f, 'must be a whole number');
      else if (f.minimum !== undefined && f.minimum !== null && n < f.minimum) add(f, `must be at least ${num(f.minimum)}`);
      else if (f.exclusiveMinimum !== undefined && f.exclusiveMinimum !== null && n <= f.exclusiveMinimum) add(f, `must be more than ${num(f.exclusiveMinimum)}`);
      else if (f.maximum !== undefined && f.maximum !== null && n > f.maximum) add(f, `must be at most ${num(f.maximum)}`);
      else if (f.exclusiveMaximum !== undefined && f.exclusiveMaximum !== null && n >= f.exclusiveMaximum) add(f, `must be less than ${num(f.exclusiveMaximum)}`);
    } else if (f.type === 'boolean') {
      // Always valid.
    } else if (typeof v === 'string') {
      const t = v.trim();
      if (!t) {
        if (f.required) add(f, f.type === 'run_id' ? 'choose a run' : 'is required');
      } else if (f.max_length && chars(t) > f.max_length) {
        add(f, `must be at most ${num(f.max_length)} characters (now ${num(chars(t))})`);
      } else if (f.min_length && chars(t) < f.min_length) {
        add(f, `must be at least ${num(f.min_length)} characters`);
      }
    }
  }
  return problems;
}

/**
 * A 400 message naming a brief field by its path ("brief.budget_usd_per_day:
 * is required") with the form's label instead ("Ad budget per day (USD): is
 * required"); `named` is the first field it names, if any.
 */
export function readableMessage(message, fields) {
  let named = null;
  const text = String(message || '').replace(/\bbrief\.([A-Za-z_][A-Za-z0-9_]*)(?:\[(\d+)\])?/g, (all, name, index) => {
    const f = fields.find((x) => x.name === name);
    if (!f) return all;
    if (!named) named = f;
    return `${label(name)}${index !== undefined ? ` (item ${Number(index) + 1})` : ''}`;
  });
  return { text, named };
}

function fieldLabel(f, id) {
  return h('label', { for: id }, label(f.name), f.required ? h('span', { class: 'req', 'aria-hidden': 'true' }, ' *') : null);
}

/**
 * The message next to a field: shown by set(text), hidden by set(null); the
 * field is then aria-invalid and described by it.
 */
function errorSlot(id, target, hintId) {
  const el = h('p', { class: 'field-error', id: `${id}-error` });
  el.hidden = true;
  return {
    el,
    set(text) {
      el.textContent = text || '';
      el.hidden = !text;
      if (text) target.setAttribute('aria-invalid', 'true');
      else target.removeAttribute('aria-invalid');
      const ids = [text ? el.id : null, hintId].filter(Boolean).join(' ');
      if (ids) target.setAttribute('aria-describedby', ids);
      else target.removeAttribute('aria-describedby');
    },
  };
}

/** One form control per field; returns {el, read(), focus(), input, error, bad()}. */
function control(f, ctxData, saved) {
  const c = baseControl(f, ctxData, saved);
  const hintId = f.description ? `brief-${f.name}-hint` : null;
  c.error = errorSlot(`brief-${f.name}`, c.input, hintId);
  // The message goes right under the control, above its hint.
  const hint = c.el.querySelector(`#brief-${f.name}-hint`);
  if (hint && hint.parentNode === c.el && f.type !== 'product_ids') c.el.insertBefore(c.error.el, hint);
  else if (f.type === 'product_ids' && hint) hint.after(c.error.el);
  else c.el.appendChild(c.error.el);
  return c;
}

function baseControl(f, ctxData, saved) {
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
      bad: () => !!(input.validity && input.validity.badInput),
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
  // maxlength from the schema: the browser stops typing at the limit.
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
  const heading = pageHeading('Re-run with notes');
  replace(ctx.main, h('div', { class: 'page-head' }, heading), error.el, body);
  let run;
  // The catalog, to name the original brief's products (not needed to re-run).
  const products = api('/api/catalog/products').then((p) => (p && p.products) || null, () => null);
  try {
    run = await retrying(ctx, () => api(`/api/runs/${encodeURIComponent(runId)}`), error);
  } catch (err) {
    if (!ctx.alive()) return;
    if (err instanceof ApiError && err.status === 404) {
      showNotFound(ctx, { heading, body, box: error, title: 'Run not found',
        sentence: 'This run does not exist in your workspace.', links: [['/runs', 'See all runs'], ['/brief', 'Start a new run']] });
    } else {
      body.replaceChildren();
    }
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
        error.show(err instanceof NetworkError
          ? 'The re-run was not started: Greenlight could not be reached. Try again once the connection is back.'
          : describe(err));
        submit.disabled = false;
      }
    },
  },
  h('p', { class: 'lead' }, `Re-run of ${run.workflow_name || run.workflow}: ${title}`),
  h('p', { class: 'muted' }, 'A new run of the same workflow starts with the same brief; these notes are added to its notes.'),
  h('div', { class: 'field' },
    h('label', { for: 'rerun-notes' }, 'Notes'),
    notes,
    h('p', { class: 'hint', id: 'rerun-hint' }, 'The rejection reason is added to the brief\'s notes; add what should change.')),
  h('div', { class: 'form-actions' }, submit, h('a', { href: `/runs/${encodeURIComponent(run.run_id)}` }, 'Back to the run')));
  const original = h('div', null, renderBrief(run.brief || {}));
  replace(body, form,
    h('details', { class: 'panel' }, h('summary', null, 'The original brief'), original));
  products.then((list) => {
    if (list && ctx.alive()) replace(original, renderBrief(run.brief || {}, { products: list }));
  });
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
        for (const c of Object.values(controls)) c.error.set(null);
        // Every problem at once, next to its field; nothing is sent until none is left.
        const problems = validate(fields, controls);
        if (problems.length) {
          for (const p of problems) controls[p.name].error.set(p.text);
          error.show(
            h('p', { class: 'alert-title' }, problems.length === 1 ? 'Fix this before starting the run:' : `Fix these ${problems.length} problems before starting the run:`),
            h('ul', { class: 'problems' }, problems.map((p) => h('li', null,
              h('a', {
                href: `#brief-${p.name}`,
                onclick: (ev) => {
                  ev.preventDefault();
                  controls[p.name].focus();
                },
              }, p.text)))));
          controls[problems[0].name].focus();
          return;
        }
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
          if (err instanceof ApiError && err.status === 400) {
            // The server names the field by its path: show its label instead.
            const { text, named } = readableMessage(err.message, fields);
            error.show(text);
            if (named) {
              controls[named.name].error.set(text);
              controls[named.name].focus();
            }
          } else if (err instanceof NetworkError) {
            error.show('The run was not started: Greenlight could not be reached. Try again once the connection is back.');
          } else {
            error.show(describe(err));
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
