// Sign-in: exchange an API token for a session cookie (POST /api/session).
// In dev mode, GET /api/dev/members offers one button per sample member.

import { h, replace } from './dom.js';
import { api, describe } from './api.js';
import { alertBox, pageHeading, signedIn } from './nav.js';

export async function mount(ctx) {
  ctx.title('Sign in');
  const next = ctx.query.get('next');
  const error = alertBox({ id: 'signin-error' });
  const input = h('input', {
    id: 'signin-token',
    name: 'token',
    type: 'password',
    autocomplete: 'off',
    spellcheck: 'false',
    required: true,
  });
  const submit = h('button', { type: 'submit', class: 'button primary' }, 'Sign in');
  const devList = h('div', { class: 'dev-members' });

  async function signIn(token, button) {
    error.clear();
    const buttons = ctx.main.querySelectorAll('button');
    buttons.forEach((b) => { b.disabled = true; });
    if (button) button.setAttribute('aria-busy', 'true');
    try {
      const me = await api('/api/session', { method: 'POST', body: { token }, allow401: true });
      if (!ctx.alive()) return;
      signedIn(me, next);
    } catch (err) {
      if (!ctx.alive()) return;
      error.show(err.status === 401 && err.message
        ? `${err.message.charAt(0).toUpperCase()}${err.message.slice(1)}`
        : describe(err));
      buttons.forEach((b) => { b.disabled = false; });
      if (button) button.removeAttribute('aria-busy');
    }
  }

  const form = h('form', {
    class: 'stack',
    onsubmit: (e) => {
      e.preventDefault();
      const token = input.value.trim();
      if (!token) {
        error.show('Enter your API token.');
        input.focus();
        return;
      }
      signIn(token, submit);
    },
  },
  h('div', { class: 'field' },
    h('label', { for: 'signin-token' }, 'API token'),
    input,
    h('p', { class: 'hint' }, 'Your token stays in this browser as a secure session cookie.')),
  submit);

  replace(ctx.main,
    h('section', { class: 'signin panel' },
      pageHeading('Sign in to Greenlight'),
      h('p', { class: 'muted' }, 'Approve or reject what your AI agents propose before anything goes out.'),
      error.el,
      form,
      devList));

  // Dev mode only: a 404 means a real deployment, which offers nothing here.
  try {
    const dev = await api('/api/dev/members', { allow401: true });
    if (!ctx.alive() || !dev || !Array.isArray(dev.members) || dev.members.length === 0) return;
    replace(devList,
      h('h2', { class: 'h3' }, 'Dev mode: sign in as'),
      h('ul', { class: 'member-list' }, dev.members.map((m) => {
        const label = `${m.name} · ${m.workspace_name || m.workspace_id} (${(m.roles || []).join(', ')})`;
        const b = h('button', {
          type: 'button',
          class: 'button member',
          'data-member-id': m.member_id,
          'data-workspace-id': m.workspace_id,
          onclick: () => signIn(m.token, b),
        }, label);
        return h('li', null, b);
      })));
  } catch {
    // No dev members: nothing to add.
  }
}
