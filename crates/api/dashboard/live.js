// The live stream: one EventSource on /api/stream (authenticated by the
// session cookie). Each message's data is one event object
// {"seq", "type", "at", "data", "run_id"}. Where the server has no stream
// (AWS) the EventSource closes and the pages' polling carries on alone: the
// stream only makes updates arrive sooner, it is never needed for correctness.

import { poller } from './api.js';

const listeners = new Set();
let source = null;
let retry = null;
let wanted = false;
let failures = 0;

function dispatch(message) {
  let event;
  try {
    event = JSON.parse(message.data);
  } catch {
    return;
  }
  if (!event || typeof event.type !== 'string') return;
  for (const fn of [...listeners]) {
    try {
      fn(event);
    } catch (e) {
      console.error(e);
    }
  }
}

function connect() {
  retry = null;
  if (!wanted || source || typeof EventSource === 'undefined') return;
  source = new EventSource('/api/stream');
  source.addEventListener('open', () => {
    failures = 0;
  });
  source.addEventListener('message', dispatch);
  source.addEventListener('error', () => {
    // CONNECTING: the browser retries by itself. CLOSED: the server refused
    // the stream (none here, or signed out); try again much later.
    if (source && source.readyState === EventSource.CLOSED) {
      source.close();
      source = null;
      failures += 1;
      const delay = Math.min(300_000, 15_000 * 2 ** Math.min(failures - 1, 4));
      if (wanted) retry = setTimeout(connect, delay);
    }
  });
}

/** Opens the stream (after sign-in). */
export function startLive() {
  wanted = true;
  connect();
}

/** Closes the stream (on sign-out). */
export function stopLive() {
  wanted = false;
  clearTimeout(retry);
  retry = null;
  if (source) source.close();
  source = null;
}

/** Calls fn(event) for every live event; returns the unsubscribe function. */
export function onLiveEvent(fn) {
  listeners.add(fn);
  return () => listeners.delete(fn);
}

/**
 * Keeps a list page fresh: `fetchPage()` every `ms` and at once on any run
 * or approval event; `render(page)` only when the answer changed. `reload()`
 * fetches and renders even an unchanged answer (after a filter or page move).
 */
export function liveList(ctx, ms, fetchPage, render) {
  let last = null;
  const refresh = poller(async () => {
    const page = await fetchPage();
    if (!ctx.alive()) return;
    const text = JSON.stringify(page);
    if (text === last) return;
    last = text;
    render(page);
  }, ms);
  ctx.onCleanup(refresh.stop);
  ctx.onCleanup(onLiveEvent((e) => {
    if (e.type.startsWith('approval.') || e.type.startsWith('workflow_run.')) refresh.trigger();
  }));
  return {
    trigger: refresh.trigger,
    reload() {
      last = null;
      refresh.trigger();
    },
  };
}
