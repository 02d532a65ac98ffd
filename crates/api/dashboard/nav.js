// Shared page plumbing: client-side navigation, the signed-in member, the
// nav badge, and small UI pieces that several pages use (alert boxes,
// pagination, loads that retry while the server is unreachable).

import { h, replace, loading } from './dom.js';
import { ApiError, NetworkError, describe, withQuery } from './api.js';

let navigator = (url) => window.location.assign(url);

/** The signed-in member ({workspace_id, workspace_name?, member_id, name, roles}). */
export const session = { me: null };

/** Set by the app: how navigate() changes page without a reload. */
export function setNavigator(fn) {
  navigator = fn;
}

let signedInHandler = () => {};

/** Set by the app: what happens once /api/session accepted a token. */
export function setSignedIn(fn) {
  signedInHandler = fn;
}

/** Called by the sign-in page with the member and the page to go to next. */
export function signedIn(me, next) {
  signedInHandler(me, next);
}

/** Goes to a dashboard path (History API). */
export function navigate(url, opts = {}) {
  navigator(url, opts);
}

// ---------------------------------------------------------------- nav badge

let countListener = () => {};
let lastCountReport = 0;

export function onApprovalsCount(fn) {
  countListener = fn;
}

/** Reports a first, unfiltered page of approvals (the nav badge's source). */
export function reportApprovals(page) {
  lastCountReport = Date.now();
  const n = Array.isArray(page.approvals) ? page.approvals.length : 0;
  countListener(page.next_cursor ? `${n}+` : String(n), n);
}

/** When the badge was last updated by someone else (to skip a redundant poll). */
export function lastApprovalsReport() {
  return lastCountReport;
}

// ---------------------------------------------------------------- UI pieces

/** An empty role="alert" box; show(text, ...extra) fills it, clear() empties it. */
export function alertBox(attrs = {}) {
  const el = h('div', { class: ['alert', attrs.class], role: 'alert', id: attrs.id || null });
  el.hidden = true;
  return {
    el,
    show(...content) {
      replace(el, ...content);
      el.hidden = false;
    },
    clear() {
      el.replaceChildren();
      el.hidden = true;
    },
  };
}

/**
 * Cursor pagination whose place is kept in the URL (?cursor=…&page=N, so a
 * reload or a shared link lands on the same page) and, for Previous page,
 * in the history entry's state: the cursors of the pages before this one.
 * Back and Forward move between pages (the router remounts the page, which
 * reads them again). `path()` is the page's address with its filters;
 * after Previous/Next/First, `list` shows "Loading…" and `reload()` runs.
 */
export function cursorPages(ctx, { path, list, reload }) {
  const first = { c: null, p: 1 };
  const cursor = ctx.query.get('cursor') || null;
  const pageNo = Math.max(cursor ? 2 : 1, Number.parseInt(ctx.query.get('page') || '', 10) || 0);
  const saved = history.state && Array.isArray(history.state.pages) ? history.state.pages : null;
  const top = saved && saved.length ? saved[saved.length - 1] : null;
  // Without a saved stack (a shared link) Previous leads to the first page.
  let stack = top && top.c === cursor && top.p === pageNo ? saved.slice() : (cursor ? [first, { c: cursor, p: pageNo }] : [first]);
  const box = h('div', { class: 'pager-box' });

  const current = () => stack[stack.length - 1];
  function move(next) {
    stack = next;
    const here = current();
    history.pushState({ pages: stack }, '', withQuery(path(), { cursor: here.c, page: here.c ? here.p : null }));
    // The new page loads where the old one was.
    replace(list, loading());
    list.scrollIntoView({ block: 'nearest' });
    reload();
  }
  return {
    el: box,
    cursor: () => current().c,
    page: () => current().p,
    /** Back to page 1 (after a filter change; the caller rewrites the URL). */
    reset() {
      stack = [first];
      box.replaceChildren();
    },
    /** Draws the buttons for an answer whose next_cursor is `nextCursor`. */
    render(nextCursor) {
      const here = current();
      if (here.p === 1 && !nextCursor) {
        box.replaceChildren();
        return;
      }
      const focusKey = document.activeElement && box.contains(document.activeElement) ? document.activeElement.getAttribute('data-focus-key') : null;
      const prev = h('button', {
        type: 'button', class: 'button', 'data-focus-key': 'prev', disabled: stack.length < 2,
        onclick: () => move(stack.slice(0, -1)),
      }, 'Previous page');
      const next = h('button', {
        type: 'button', class: 'button', 'data-focus-key': 'next', disabled: !nextCursor,
        onclick: () => move([...stack, { c: nextCursor, p: here.p + 1 }]),
      }, 'Next page');
      const firstBtn = here.p > 2
        ? h('button', { type: 'button', class: 'button', 'data-focus-key': 'first', onclick: () => move([first]) }, 'First page')
        : null;
      const label = h('span', { class: 'page-no', tabindex: '-1', 'data-focus-key': 'label' }, `Page ${here.p}`);
      replace(box, h('nav', { class: 'pager', 'aria-label': 'Pages' }, firstBtn, prev, label, next));
      if (focusKey) {
        const again = box.querySelector(`[data-focus-key="${focusKey}"]`);
        (again && !again.disabled ? again : label).focus({ preventScroll: true });
      }
    },
  };
}

/**
 * Runs fn() until it succeeds, retrying every 3 s while the server is
 * unreachable and the page is still the same. The connection problem itself
 * is shown once, by the banner at the top of the page, not in `box`.
 * API errors are shown in `box` and rethrown.
 */
export async function retrying(ctx, fn, box) {
  for (;;) {
    try {
      const out = await fn();
      if (box) box.clear();
      return out;
    } catch (err) {
      if (!ctx.alive()) throw err;
      if (err instanceof NetworkError) {
        if (err.code === 'aborted') throw err;
        await new Promise((r) => setTimeout(r, 3000));
        if (!ctx.alive()) throw err;
        continue;
      }
      if (box && !(err instanceof ApiError && err.status === 401)) box.show(describe(err));
      throw err;
    }
  }
}

/** A page heading that receives focus after navigation. */
export function pageHeading(text, ...extra) {
  return h('h1', { tabindex: '-1', class: 'page-title' }, text, ...extra);
}

/**
 * A page whose subject does not exist in the workspace: one friendly
 * sentence and where to go instead; no raw API message, no empty panels.
 * `links` are [href, text] pairs.
 */
export function showNotFound(ctx, { heading, body, box, title, sentence, links }) {
  box.clear();
  heading.textContent = title;
  ctx.title(title);
  const anchors = links.flatMap(([href, text], i) => (i ? [' · ', h('a', { href }, text)] : [h('a', { href }, text)]));
  replace(body, h('div', { class: 'panel not-found' }, h('p', null, sentence), h('p', null, anchors)));
}
