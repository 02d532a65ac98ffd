// The JSON API client: same-origin fetches with the session cookie, errors in
// the contract's shape turned into ApiError, network failures into
// NetworkError, and any 401 sends the browser to the sign-in page.

/** An answer of the API in the error shape {"error": {"code", "message"}}. */
export class ApiError extends Error {
  constructor(status, code, message, body) {
    super(message);
    this.status = status;
    this.code = code;
    this.body = body;
  }
}

/** The server could not be reached (offline, server down, connection reset). */
export class NetworkError extends Error {
  constructor() {
    super('Could not reach Greenlight; retrying…');
    this.code = 'network';
  }
}

/** A request given up on purpose (sign-out): not a connection problem. */
export class AbortedError extends NetworkError {
  constructor() {
    super();
    this.message = 'The request was cancelled.';
    this.code = 'aborted';
  }
}

let unauthorized = () => {};
const netListeners = new Set();
let netDown = false;
// Every request carries this signal, so sign-out can cancel what is in flight.
let inflight = new AbortController();

/** Cancels every request in flight (on sign-out: no late 401s). */
export function abortRequests() {
  inflight.abort();
  inflight = new AbortController();
}

/** What to do on a 401 (set by the app: go to /signin). */
export function onUnauthorized(fn) {
  unauthorized = fn;
}

/** Subscribes to reachability changes: fn(true) when the server is unreachable. */
export function onNetworkChange(fn) {
  netListeners.add(fn);
  return () => netListeners.delete(fn);
}

function setNetDown(down) {
  if (down === netDown) return;
  netDown = down;
  for (const fn of netListeners) fn(down);
}

/**
 * Calls the API. `body` (for POST/DELETE) is sent as JSON. With `allow401`
 * a 401 is thrown as an ApiError instead of leaving the page (sign-in, /me).
 */
export async function api(path, { method = 'GET', body, headers = {}, allow401 = false } = {}) {
  const init = { method, credentials: 'same-origin', headers: { Accept: 'application/json', ...headers }, signal: inflight.signal };
  if (method !== 'GET' && method !== 'HEAD') {
    init.headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body === undefined ? {} : body);
  }
  let res;
  let text;
  try {
    res = await fetch(path, init);
    text = await res.text();
  } catch (e) {
    if (init.signal.aborted || (e && e.name === 'AbortError')) throw new AbortedError();
    setNetDown(true);
    throw new NetworkError();
  }
  setNetDown(false);
  let data = null;
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = null;
    }
  }
  if (res.status === 401 && !allow401) {
    unauthorized();
  }
  if (!res.ok) {
    const err = (data && data.error) || {};
    throw new ApiError(res.status, err.code || `http_${res.status}`, err.message || `Greenlight answered ${res.status} ${res.statusText}.`.trim(), data);
  }
  return data;
}

/** Builds "/path?a=1&b=2", leaving out empty values. */
export function withQuery(path, params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params || {})) {
    if (v !== null && v !== undefined && v !== '') q.set(k, String(v));
  }
  const s = q.toString();
  return s ? `${path}?${s}` : path;
}

/** A random key for Idempotency-Key headers (randomUUID needs a secure context). */
export function randomKey() {
  if (globalThis.crypto && typeof crypto.randomUUID === 'function') return crypto.randomUUID();
  const bytes = new Uint8Array(16);
  crypto.getRandomValues(bytes);
  return [...bytes].map((b) => b.toString(16).padStart(2, '0')).join('');
}

/**
 * Runs `task` every `ms` while the page is visible, never two at once: a
 * trigger() during a run queues exactly one more run right after it.
 * stop() ends it for good (the task may call it itself).
 */
export function poller(task, ms) {
  let timer = null;
  let running = false;
  let again = false;
  let stopped = false;

  const schedule = () => {
    clearTimeout(timer);
    if (!stopped) timer = setTimeout(run, ms);
  };
  async function run() {
    if (stopped) return;
    if (running) {
      again = true;
      return;
    }
    if (document.hidden) {
      schedule();
      return;
    }
    clearTimeout(timer);
    running = true;
    try {
      await task();
    } catch (e) {
      if (!(e instanceof ApiError) && !(e instanceof NetworkError)) console.error(e);
    } finally {
      running = false;
    }
    if (again && !stopped) {
      again = false;
      run();
      return;
    }
    schedule();
  }
  const onVisible = () => {
    if (!document.hidden) run();
  };
  document.addEventListener('visibilitychange', onVisible);
  return {
    trigger: run,
    stop() {
      stopped = true;
      clearTimeout(timer);
      document.removeEventListener('visibilitychange', onVisible);
    },
  };
}

/** A plain-words explanation of an error for an alert box. */
export function describe(err) {
  if (err instanceof NetworkError) return 'Could not reach Greenlight; retrying…';
  if (err instanceof ApiError) return err.message;
  return 'Something went wrong in the page. Reload to try again.';
}
