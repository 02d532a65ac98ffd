// Shared page plumbing: client-side navigation, the signed-in member, the
// nav badge, and small UI pieces that several pages use (alert boxes,
// pagination, loads that retry while the server is unreachable).

import { h, replace } from './dom.js';
import { ApiError, NetworkError, describe } from './api.js';

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

/** "First page" / "Next page" buttons over an opaque cursor. */
export function pager({ cursor, nextCursor, go }) {
  return h('nav', { class: 'pager', 'aria-label': 'Pages' },
    h('button', { type: 'button', class: 'button', disabled: !cursor, onclick: () => go(null) }, 'First page'),
    h('button', { type: 'button', class: 'button', disabled: !nextCursor, onclick: () => go(nextCursor) }, 'Next page'));
}

/**
 * Runs fn() until it succeeds, retrying every 3 s while the server is
 * unreachable (showing that in `box`) and the page is still the same.
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
        if (box) box.show(describe(err));
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
