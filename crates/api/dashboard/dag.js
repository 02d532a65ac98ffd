// The workflow graph as an inline SVG, drawn left to right.
//
// Layout (series-parallel graphs, as recipes are):
//  - column = the longest path from a root to the node;
//  - rows: each root starts a new row; a node's first single-parent child
//    stays on its parent's row, further children open new rows; a node with
//    several parents (a join, like synthesis) sits at the mean of their rows;
//  - nodes sharing a column are then pushed apart so none overlap.

import { svg, statusWord, statusClass } from './dom.js';

const NODE_W = 176;
const NODE_H = 52;
const COL_W = 226;
const ROW_H = 70;
const PAD = 14;
const MAX_LABEL = 22;

let uid = 0;

/** Computes {col, row} for every node of [{key, after}]. */
export function layout(nodes) {
  const byKey = new Map(nodes.map((n) => [n.key, n]));
  const parents = (key) => (byKey.get(key).after || []).filter((p) => byKey.has(p) && p !== key);
  const children = new Map(nodes.map((n) => [n.key, []]));
  for (const n of nodes) for (const p of parents(n.key)) children.get(p).push(n.key);

  // Columns: longest path from a root (a cycle, which recipes forbid, is cut).
  const col = new Map();
  const visiting = new Set();
  const colOf = (key) => {
    if (col.has(key)) return col.get(key);
    if (visiting.has(key)) return 0;
    visiting.add(key);
    const ps = parents(key);
    const c = ps.length ? 1 + Math.max(...ps.map(colOf)) : 0;
    visiting.delete(key);
    col.set(key, c);
    return c;
  };
  nodes.forEach((n) => colOf(n.key));

  // Rows.
  const row = new Map();
  let next = 0;
  const place = (key, r) => {
    if (row.has(key)) return;
    row.set(key, r);
    next = Math.max(next, Math.floor(r) + 1);
    let first = true;
    for (const c of children.get(key)) {
      const ps = parents(c);
      if (ps.length > 1) {
        if (ps.every((p) => row.has(p))) place(c, ps.reduce((s, p) => s + row.get(p), 0) / ps.length);
      } else if (first) {
        first = false;
        place(c, r);
      } else {
        place(c, next);
      }
    }
  };
  for (const n of nodes) if (parents(n.key).length === 0) place(n.key, next);
  for (const n of nodes) if (!row.has(n.key)) place(n.key, next); // only after a cycle

  // No two nodes of a column closer than one row.
  const columns = new Map();
  for (const n of nodes) {
    const c = col.get(n.key);
    if (!columns.has(c)) columns.set(c, []);
    columns.get(c).push(n.key);
  }
  for (const keys of columns.values()) {
    keys.sort((a, b) => row.get(a) - row.get(b));
    for (let i = 1; i < keys.length; i++) {
      const min = row.get(keys[i - 1]) + 1;
      if (row.get(keys[i]) < min) row.set(keys[i], min);
    }
  }
  const minRow = Math.min(0, ...row.values());
  const pos = new Map();
  for (const n of nodes) pos.set(n.key, { col: col.get(n.key), row: row.get(n.key) - minRow });
  return pos;
}

function truncate(text, max) {
  const s = String(text);
  return s.length > max ? `${s.slice(0, max - 1)}…` : s;
}

/**
 * Draws the graph. nodes: [{key, label, kind, after, status?}].
 * Options: caption (accessible name), subtitle(node) → text under the label
 * (default: the status word), activate(node) → makes the node a focusable
 * button (click, Enter, Space) when it returns a function.
 */
export function renderDag(nodes, { caption = 'Workflow graph', subtitle, activate } = {}) {
  const pos = layout(nodes);
  const id = `dag-arrow-${++uid}`;
  let maxCol = 0;
  let maxRow = 0;
  for (const p of pos.values()) {
    maxCol = Math.max(maxCol, p.col);
    maxRow = Math.max(maxRow, p.row);
  }
  const width = PAD * 2 + maxCol * COL_W + NODE_W;
  const height = PAD * 2 + maxRow * ROW_H + NODE_H;
  const xy = (key) => {
    const p = pos.get(key);
    return { x: PAD + p.col * COL_W, y: PAD + p.row * ROW_H };
  };
  const statusOf = new Map(nodes.map((n) => [n.key, n.status]));

  const root = svg('svg', {
    class: 'dag',
    viewBox: `0 0 ${width} ${height}`,
    width,
    height,
    role: 'group',
    'aria-label': caption,
  });
  root.appendChild(svg('defs', null,
    svg('marker', { id, viewBox: '0 0 10 10', refX: '9', refY: '5', markerWidth: '7', markerHeight: '7', orient: 'auto-start-reverse' },
      svg('path', { d: 'M 0 0 L 10 5 L 0 10 z', class: 'dag-arrow' }))));

  // Edges first, so nodes paint over their ends.
  const edges = svg('g', { class: 'edges', 'aria-hidden': 'true' });
  for (const n of nodes) {
    for (const p of n.after || []) {
      if (!pos.has(p)) continue;
      const a = xy(p);
      const b = xy(n.key);
      const x1 = a.x + NODE_W;
      const y1 = a.y + NODE_H / 2;
      const x2 = b.x - 2;
      const y2 = b.y + NODE_H / 2;
      // An edge that skips columns runs along its source's row (free of
      // nodes by construction) and bends only in the last gap.
      const bend = Math.max(x1, x2 - (COL_W - NODE_W));
      const dx = Math.max(12, (x2 - bend) / 2);
      const done = statusOf.get(p) === 'succeeded';
      edges.appendChild(svg('path', {
        class: ['edge', done ? 'edge-done' : null],
        d: `M ${x1} ${y1} H ${bend} C ${bend + dx} ${y1}, ${x2 - dx} ${y2}, ${x2} ${y2}`,
        'marker-end': `url(#${id})`,
      }));
    }
  }
  root.appendChild(edges);

  for (const n of nodes) {
    const { x, y } = xy(n.key);
    const status = n.status;
    const sub = subtitle ? subtitle(n) : statusWord(status);
    const attrs = {
      class: ['node', status ? `status-${statusClass(status)}` : 'static', `kind-${statusClass(n.kind)}`],
      'data-step-key': n.key,
      'data-status': status || null,
      'data-kind': n.kind || null,
      transform: `translate(${x} ${y})`,
    };
    const action = activate ? activate(n) : null;
    if (action) {
      Object.assign(attrs, {
        class: [...attrs.class, 'clickable'],
        tabindex: '0',
        role: 'button',
        'aria-label': `Review ${n.label} (${sub})`,
        onclick: action,
        onkeydown: (e) => {
          if (e.key === 'Enter' || e.key === ' ') {
            e.preventDefault();
            action();
          }
        },
      });
    }
    const g = svg('g', attrs,
      svg('title', null, `${n.label} · ${sub}`),
      svg('rect', { class: 'node-box', width: NODE_W, height: NODE_H, rx: '8', ry: '8' }),
      n.kind === 'approval_gate' ? svg('path', { class: 'gate-mark', d: `M 12 ${NODE_H / 2 - 6} l 6 6 l -6 6 l -6 -6 z` }) : null,
      svg('text', { class: 'node-label', x: NODE_W / 2, y: 22, 'text-anchor': 'middle' }, truncate(n.label || n.key, MAX_LABEL)),
      svg('text', { class: 'node-status', x: NODE_W / 2, y: 40, 'text-anchor': 'middle' }, sub));
    root.appendChild(g);
  }
  return root;
}
