// Greenlight dashboard: start-up, the History API router, the header (nav,
// pending-approvals badge, member, sign out) and the session lifecycle.
//
// Pages are modules exporting mount(ctx); ctx carries the <main> element,
// the route's params and query, alive() (false once the user has moved on:
// late answers are dropped) and onCleanup(fn) (pollers and listeners stop).

import { replace, h, startClock, loading } from './dom.js';
import { api, withQuery, poller, onUnauthorized, onNetworkChange, abortRequests } from './api.js';
import { startLive, stopLive, onLiveEvent } from './live.js';
import { session, setNavigator, setSignedIn, onApprovalsCount, reportApprovals, lastApprovalsReport, pageHeading } from './nav.js';
import * as approvals from './approvals.js';
import * as runs from './runs.js';
import * as run from './run.js';
import * as card from './card.js';
import * as brief from './brief.js';
import * as catalog from './catalog.js';
import * as records from './records.js';
import * as approver from './approver.js';
import * as signin from './signin.js';

const ROUTES = [
  { re: /^\/approvals\/?$/, nav: 'approvals', page: approvals.mount },
  { re: /^\/runs\/?$/, nav: 'runs', page: runs.mount },
  { re: /^\/runs\/([^/]+)\/?$/, nav: 'runs', page: run.mount },
  { re: /^\/review\/([^/]+)\/?$/, nav: 'approvals', page: card.mount },
  { re: /^\/brief\/?$/, nav: 'brief', page: brief.mount },
  { re: /^\/catalog\/?$/, nav: 'catalog', page: catalog.mount },
  { re: /^\/audit\/?$/, nav: 'audit', page: records.mountAudit },
  { re: /^\/outbox\/?$/, nav: 'outbox', page: records.mountOutbox },
  { re: /^\/approver\/?$/, nav: 'approver', page: approver.mount },
  { re: /^\/signin\/?$/, nav: null, page: signin.mount, public: true },
];

const main = document.getElementById('main');
let current = null; // {alive, cleanups}
let countPoller = null;
let unsubscribeCount = null;
let leaving = false;

// ------------------------------------------------------------------ routing

function notFound(ctx) {
  ctx.title('Page not found');
  replace(ctx.main,
    h('section', { class: 'panel not-found' },
      pageHeading('Page not found'),
      h('p', null, 'There is no page at this address in the dashboard.'),
      h('ul', { class: 'link-list' },
        h('li', null, h('a', { href: '/approvals' }, 'Approvals'), ': what waits for your decision'),
        h('li', null, h('a', { href: '/runs' }, 'Runs'), ': every run of your workspace'),
        h('li', null, h('a', { href: '/brief' }, 'New run'), ': start a workflow'))));
}

/**
 * Moves focus to the new page's <h1> (tabindex="-1") as soon as the page has
 * drawn it, unless the page or the user has focused something in it first.
 */
function focusHeading(state) {
  const attempt = () => {
    if (!state.alive) return true;
    const heading = main.querySelector('h1');
    if (!heading) return false;
    const active = document.activeElement;
    if (active && active !== main && main.contains(active)) return true;
    if (!heading.hasAttribute('tabindex')) heading.setAttribute('tabindex', '-1');
    heading.focus({ preventScroll: true });
    return true;
  };
  if (attempt()) return;
  const observer = new MutationObserver(() => {
    if (attempt()) stop();
  });
  const timer = setTimeout(() => stop(), 20_000);
  function stop() {
    observer.disconnect();
    clearTimeout(timer);
  }
  observer.observe(main, { childList: true, subtree: true });
  state.cleanups.push(stop);
}

/** Ends the current page: its pollers and listeners stop, late answers are dropped. */
function leavePage() {
  if (!current) return;
  current.alive = false;
  for (const fn of current.cleanups.splice(0)) {
    try {
      fn();
    } catch (e) {
      console.error(e);
    }
  }
}

function setActiveNav(name) {
  for (const a of document.querySelectorAll('#nav a[data-nav]')) {
    if (a.getAttribute('data-nav') === name) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
}

/** Renders the page for the current location. */
function route({ focus = true } = {}) {
  leavePage();
  let path = window.location.pathname;
  if (path === '/' || path === '') {
    history.replaceState(null, '', '/approvals');
    path = '/approvals';
  }
  const match = ROUTES.map((r) => ({ r, m: r.re.exec(path) })).find((x) => x.m);
  if (match && !match.r.public && !session.me) {
    toSignin();
    return;
  }
  const state = { alive: true, cleanups: [] };
  current = state;
  const ctx = {
    main,
    params: match ? match.m.slice(1).map(decodeURIComponent) : [],
    query: new URLSearchParams(window.location.search),
    alive: () => state.alive,
    onCleanup: (fn) => state.cleanups.push(fn),
    title: (text) => {
      document.title = text ? `${text} · Greenlight` : 'Greenlight';
    },
  };
  setActiveNav(match ? match.r.nav : null);
  replace(main, loading());
  const page = match ? match.r.page : notFound;
  Promise.resolve()
    .then(() => page(ctx))
    .catch((e) => {
      if (state.alive) console.error(e);
    });
  if (focus) {
    // Pages draw their heading once their module has run; focus follows it.
    focusHeading(state);
    window.scrollTo(0, 0);
  }
}

function go(url, { replace: replaceEntry = false } = {}) {
  const target = new URL(url, window.location.href);
  if (target.origin !== window.location.origin) return;
  if (replaceEntry) history.replaceState(null, '', target.pathname + target.search + target.hash);
  else history.pushState(null, '', target.pathname + target.search + target.hash);
  route();
}

/** Same-origin dashboard links change page without a reload. */
function interceptLinks(event) {
  if (event.defaultPrevented || event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
  const a = event.target.closest ? event.target.closest('a[href]') : null;
  if (!a || a.target || a.hasAttribute('download')) return;
  const url = new URL(a.href, window.location.href);
  if (url.origin !== window.location.origin) return;
  if (url.pathname.startsWith('/api/') || url.pathname.startsWith('/assets/')) return;
  if (url.pathname === window.location.pathname && url.search === window.location.search && url.hash) return;
  event.preventDefault();
  go(url.pathname + url.search + url.hash);
}

// ------------------------------------------------------------------ session

function currentPath() {
  return window.location.pathname + window.location.search;
}

/** Leaves for the sign-in page, remembering where the user was. */
function toSignin() {
  if (leaving || window.location.pathname.startsWith('/signin')) {
    endSession();
    return;
  }
  const here = currentPath();
  endSession();
  leaving = true;
  const next = here.startsWith('/signin') || here === '/' ? '' : `?next=${encodeURIComponent(here)}`;
  go(`/signin${next}`, { replace: true });
  leaving = false;
}

function showShell(me) {
  session.me = me;
  document.getElementById('nav').hidden = false;
  const account = document.getElementById('account');
  account.hidden = false;
  const ws = me.workspace_name || me.workspace_id || '';
  replace(document.getElementById('workspace-name'), ws);
  replace(document.getElementById('member-name'), me.name || me.member_id || '');
  document.getElementById('member-name').setAttribute('title', `${me.member_id} · ${(me.roles || []).join(', ')}`);
  startLive();
  startCountPoller();
}

function endSession() {
  session.me = null;
  document.getElementById('nav').hidden = true;
  document.getElementById('account').hidden = true;
  stopLive();
  if (countPoller) countPoller.stop();
  countPoller = null;
  if (unsubscribeCount) unsubscribeCount();
  unsubscribeCount = null;
  setCount('', 0);
}

/** Called by the sign-in page with /api/session's answer. */
function signedIn(me, next) {
  showShell(me);
  const safe = typeof next === 'string' && next.startsWith('/') && !next.startsWith('//') && !next.startsWith('/signin') ? next : '/approvals';
  go(safe, { replace: true });
}

async function signOut() {
  const button = document.getElementById('sign-out');
  button.disabled = true;
  // Everything stops first (page pollers, the badge poller, the live stream,
  // requests in flight), so nothing asks the server after the cookie is gone.
  leavePage();
  endSession();
  abortRequests();
  replace(main, loading('Signing out…'));
  try {
    await api('/api/session', { method: 'DELETE', body: {}, allow401: true });
  } catch {
    // Signed out either way: the cookie is gone or was already invalid.
  }
  button.disabled = false;
  go('/signin', { replace: false });
}

// ------------------------------------------------------------ nav badge

function setCount(text, n) {
  const el = document.getElementById('approvals-count');
  el.textContent = text;
  el.hidden = text === '';
  el.classList.toggle('has-items', n > 0);
  el.setAttribute('aria-label', text === '' ? '' : `${text} pending`);
}

function startCountPoller() {
  if (countPoller) return;
  countPoller = poller(async () => {
    // The Approvals page reports the same list when it shows it unfiltered.
    if (Date.now() - lastApprovalsReport() < 2500) return;
    const page = await api(withQuery('/api/dashboard/approvals', { limit: 50 }));
    reportApprovals(page);
  }, 3000);
  countPoller.trigger();
  unsubscribeCount = onLiveEvent((e) => {
    if (e.type.startsWith('approval.') || e.type.startsWith('workflow_run.')) countPoller && countPoller.trigger();
  });
}

// ------------------------------------------------------------------- start

async function boot() {
  setNavigator(go);
  setSignedIn(signedIn);
  onUnauthorized(toSignin);
  onApprovalsCount(setCount);
  startClock();
  const banner = document.getElementById('net-status');
  onNetworkChange((down) => {
    banner.textContent = down ? 'Could not reach Greenlight; retrying…' : '';
    banner.hidden = !down;
  });
  document.addEventListener('click', interceptLinks);
  window.addEventListener('popstate', () => route());
  document.getElementById('sign-out').addEventListener('click', signOut);

  if (window.location.pathname.startsWith('/signin')) {
    route({ focus: false });
    return;
  }
  for (;;) {
    try {
      const me = await api('/api/me', { allow401: true });
      showShell(me);
      route({ focus: false });
      return;
    } catch (err) {
      if (err.status === 401) {
        toSignin();
        return;
      }
      if (err.code !== 'network') {
        replace(main, pageHeading('Greenlight is unavailable'), h('p', { role: 'alert', class: 'alert' }, err.message));
        return;
      }
      // The banner says the server is unreachable; the page only waits.
      replace(main, loading('Connecting to Greenlight…'));
      await new Promise((r) => setTimeout(r, 3000));
    }
  }
}

boot();
