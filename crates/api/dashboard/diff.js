// What an edit changes in a proposal: each changed field, with the words
// removed and added marked (<del>, <ins>). Built from text nodes only.

import { h } from './dom.js';

const isObj = (v) => v !== null && typeof v === 'object' && !Array.isArray(v);

/** "variants[0].options[1].title" → "variants 1 › options 2 › title". */
function label(path) {
  return path
    .replace(/\[(\d+)\]/g, (_, i) => ` ${Number(i) + 1}`)
    .split('.')
    .filter(Boolean)
    .map((p) => p.replace(/_/g, ' '))
    .join(' › ') || 'proposal';
}

/** Every changed leaf between `a` and `b`: {path, before, after} or list changes. */
export function changes(a, b, path = '') {
  if (typeof a === 'string' && typeof b === 'string') {
    return a === b ? [] : [{ path, before: a, after: b }];
  }
  if (Array.isArray(a) && Array.isArray(b)) {
    const scalars = (xs) => xs.every((x) => x === null || typeof x !== 'object');
    if (scalars(a) && scalars(b)) {
      const removed = a.filter((x) => !b.includes(x));
      const added = b.filter((x) => !a.includes(x));
      return removed.length || added.length ? [{ path, removed, added }] : [];
    }
    const out = [];
    for (let i = 0; i < Math.max(a.length, b.length); i++) {
      if (i >= b.length) out.push({ path: `${path}[${i}]`, removedItem: true });
      else if (i >= a.length) out.push({ path: `${path}[${i}]`, addedItem: true });
      else out.push(...changes(a[i], b[i], `${path}[${i}]`));
    }
    return out;
  }
  if (isObj(a) && isObj(b)) {
    const keys = [...new Set([...Object.keys(a), ...Object.keys(b)])];
    return keys.flatMap((k) => changes(a[k], b[k], path ? `${path}.${k}` : k));
  }
  return JSON.stringify(a) === JSON.stringify(b) ? [] : [{ path, before: String(a ?? '—'), after: String(b ?? '—') }];
}

/** Word-level differences: [[op, text]] with op '=', '-' or '+'. */
export function wordDiff(before, after) {
  const x = before.split(/(\s+)/);
  const y = after.split(/(\s+)/);
  // Too long to compare word by word: show the whole texts.
  if (x.length * y.length > 4_000_000) return [['-', before], ['+', after]];
  const n = x.length;
  const m = y.length;
  const lcs = Array.from({ length: n + 1 }, () => new Uint32Array(m + 1));
  for (let i = n - 1; i >= 0; i--) {
    for (let j = m - 1; j >= 0; j--) {
      lcs[i][j] = x[i] === y[j] ? lcs[i + 1][j + 1] + 1 : Math.max(lcs[i + 1][j], lcs[i][j + 1]);
    }
  }
  const out = [];
  const push = (op, t) => {
    const last = out[out.length - 1];
    if (last && last[0] === op) last[1] += t;
    else out.push([op, t]);
  };
  let i = 0;
  let j = 0;
  while (i < n && j < m) {
    if (x[i] === y[j]) {
      push('=', x[i]);
      i++;
      j++;
    } else if (lcs[i + 1][j] >= lcs[i][j + 1]) push('-', x[i++]);
    else push('+', y[j++]);
  }
  while (i < n) push('-', x[i++]);
  while (j < m) push('+', y[j++]);
  return out;
}

function marked(parts) {
  return parts.map(([op, t]) => (op === '-' ? h('del', null, t) : op === '+' ? h('ins', null, t) : t));
}

/** The list of what changed, for the Review card. */
export function renderChanges(original, edited) {
  const list = changes(original, edited);
  if (!list.length) return h('p', { class: 'muted' }, 'The edit changes nothing.');
  return h('ul', { class: 'diff-list', id: 'edit-changes' }, list.map((c) => {
    let body;
    if (c.removedItem) body = h('del', null, 'removed');
    else if (c.addedItem) body = h('ins', null, 'added');
    else if (c.removed || c.added) {
      body = [
        ...c.removed.map((r) => [h('del', null, String(r)), ' ']),
        ...c.added.map((a) => [h('ins', null, String(a)), ' ']),
      ].flat();
    } else body = h('span', { class: 'diff-text' }, ...marked(wordDiff(c.before, c.after)));
    return h('li', { 'data-path': c.path }, h('span', { class: 'diff-path' }, label(c.path)), ' ', body);
  }));
}
