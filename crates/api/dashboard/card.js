// Review card: one gate's proposal, rendered readably, with its reasoning
// trail, checklist, spend, and the three decisions (Approve, Approve with
// comment, Reject with feedback). Every decision carries the digest of the
// proposal shown, so a changed proposal is refused (409 stale_proposal).

import { h, replace, badge, money, cost, timeAgo, timeAt, runLink, humanize, statusWord, apiUrl, relative, loading, waitingSince } from './dom.js';
import { api, poller, randomKey, ApiError, NetworkError, describe } from './api.js';
import { onLiveEvent } from './live.js';
import { renderProposal, renderValue, prose } from './proposal.js';
import { alertBox, pageHeading, retrying, session, showNotFound } from './nav.js';
import { rerunButton } from './runs.js';
import { renderBrief } from './brief.js';
import { renderChanges } from './diff.js';

const WAITING = 'waiting_for_approval';
const GENERIC = 4; // the seed's four generic checklist items come first

// ------------------------------------------------------------ card pieces

function trailEntry(e, i) {
  const kind = String(e.kind || 'step');
  const head = h('div', { class: 'trail-head' },
    h('span', { class: 'trail-index' }, `${i + 1}.`),
    h('strong', null, humanize(e.step_key || 'step')),
    h('span', { class: ['chip', `kind-${kind.replace(/[^a-z0-9_-]/gi, '')}`] }, kind));
  const metaBits = [];
  if (e.model) metaBits.push(`model ${e.model}${e.priced_as ? `, priced as ${e.priced_as}` : ''}`);
  if (e.input_tokens !== undefined || e.output_tokens !== undefined) {
    metaBits.push(`${Number(e.input_tokens || 0).toLocaleString('en-US')} tokens in, ${Number(e.output_tokens || 0).toLocaleString('en-US')} out`);
  }
  if (e.cost_usd !== undefined && e.cost_usd !== null) metaBits.push(`${cost(e.cost_usd)}${e.estimated ? ' (estimated)' : ''}`);
  const body = [];
  if (kind === 'llm') {
    if (e.prompt !== undefined) body.push(h('h4', { class: 'trail-label' }, 'Prompt'), h('pre', { class: 'trail-text' }, String(e.prompt)));
    if (e.response !== undefined) body.push(h('h4', { class: 'trail-label' }, 'Response'), h('pre', { class: 'trail-text' }, String(e.response)));
  } else if (kind === 'studio') {
    const url = apiUrl(e.asset_url);
    if (e.brief !== undefined) body.push(h('h4', { class: 'trail-label' }, 'Studio brief'), prose(e.brief));
    if (url) {
      body.push(h('p', { class: 'trail-asset' },
        h('img', { class: 'thumb', src: url, alt: 'Studio render', loading: 'lazy' }),
        h('a', { href: url, target: '_blank', rel: 'noopener' }, 'Open the rendered asset')));
    }
  } else if (kind === 'rule') {
    const result = String(e.result ?? '');
    const verdict = /^pass/i.test(result) ? 'pass' : /^(fail|fixed)/i.test(result) ? 'fail' : 'info';
    body.push(h('p', { class: 'rule' }, h('code', null, String(e.rule ?? 'rule')), ' ', h('span', { class: ['rule-result', verdict] }, result)));
  } else {
    const extra = Object.fromEntries(Object.entries(e).filter(([k]) => !['step_key', 'kind', 'cost_usd', 'estimated', 'model', 'priced_as'].includes(k)));
    body.push(renderValue(extra, 1));
  }
  return h('li', { class: ['trail-entry', `trail-${kind.replace(/[^a-z0-9_-]/gi, '')}`] },
    head,
    metaBits.length ? h('p', { class: 'muted small' }, metaBits.join(' · ')) : null,
    body);
}

function trailSection(card) {
  const trail = Array.isArray(card.reasoning_trail) ? card.reasoning_trail : [];
  const details = h('details', { class: 'panel trail', id: 'reasoning-trail' },
    h('summary', null, `Reasoning trail (${trail.length} step${trail.length === 1 ? '' : 's'})`));
  // Large prompts: build the list the first time it is opened.
  details.addEventListener('toggle', () => {
    if (details.open && details.children.length === 1) {
      details.appendChild(trail.length
        ? h('ol', { class: 'trail-list' }, trail.map(trailEntry))
        : h('p', { class: 'muted' }, 'No reasoning recorded for this gate.'));
    }
  });
  return details;
}

function spendSection(card) {
  const rows = [];
  if (card.proposed_spend_usd !== null && card.proposed_spend_usd !== undefined) {
    rows.push(h('p', { class: 'spend-proposed' }, 'Proposed spend ', h('strong', { class: 'big' }, money(card.proposed_spend_usd)),
      card.proposed_daily_usd ? ` (${money(card.proposed_daily_usd)}/day)` : ''));
    if (card.spend_cap_remaining_usd !== null && card.spend_cap_remaining_usd !== undefined) {
      // Over the cap: marked here, explained once, next to the decision buttons.
      const over = card.status === WAITING && Number(card.proposed_spend_usd) > Number(card.spend_cap_remaining_usd);
      rows.push(h('p', { class: ['spend-cap', over ? 'over' : null] }, 'Spend cap remaining this month ', h('strong', null, money(card.spend_cap_remaining_usd)),
        over ? h('span', { class: 'chip over-cap' }, 'less than proposed') : null));
    }
  }
  rows.push(h('p', { class: 'run-cost' }, 'This run has cost ', h('strong', null, cost(card.run_cost_so_far_usd)), ' so far (estimated)'));
  rows.push(h('p', { class: 'muted small' }, 'Compute already spent (model tokens, Studio renders) is not refunded by a rejection.'));
  return h('section', { class: 'panel spend', 'aria-labelledby': 'spend-title' },
    h('h2', { id: 'spend-title', class: 'h4' }, 'Cost'), rows);
}

function checklistSection(card) {
  const items = Array.isArray(card.checklist) ? card.checklist : [];
  if (!items.length) return null;
  return h('section', { class: 'panel', 'aria-labelledby': 'checklist-title' },
    h('h2', { id: 'checklist-title', class: 'h4' }, 'Checklist'),
    h('ul', { class: 'checklist', id: 'checklist' }, items.map((t, i) =>
      h('li', { class: i >= GENERIC ? 'gate-item' : null }, String(t)))));
}

/** A titled list of strings, or nothing when empty. */
function listOf(title, items, cls) {
  if (!Array.isArray(items) || !items.length) return null;
  return [h('h3', { class: 'h5' }, title), h('ul', { class: cls }, items.map((r) => h('li', null, String(r))))];
}

function suggestionSection(card) {
  const s = card.suggestion;
  if (!s) return null;
  const pct = typeof s.confidence === 'number' ? `${Math.round(s.confidence * 100)}%` : '?';
  const verdict = s.predicted_verdict === 'reject' ? 'reject' : 'approve';
  return h('section', { class: ['panel', 'suggestion', verdict], 'aria-labelledby': 'suggestion-title', id: 'suggestion', 'data-verdict': verdict },
    h('h2', { id: 'suggestion-title', class: 'h4' }, 'Approver agent'),
    h('p', null, 'Predicts ', h('strong', { class: 'predicted' }, verdict === 'reject' ? 'a rejection' : 'an approval'),
      ` (${pct} confident), learnt from ${Number(s.learnt_from) || 0} past decisions at this gate.`),
    listOf('Why', s.reasons, 'reasons'),
    listOf('Against the brand\'s written rules', s.rule_breaks, 'rule-breaks'),
    listOf('Its edit', s.edits, 'edits'),
    listOf('What it could not do', s.could_not, 'could-not'),
    h('p', { class: 'muted small' }, s.edited_proposal !== null && s.edited_proposal !== undefined
      ? 'A suggestion only: the decision is yours. You can approve its edit instead of the proposal.'
      : 'A suggestion only: the decision is yours.'));
}

/** The standing decision, or why there is none. */
function decisionBlock(card, runError) {
  const d = card.decision;
  if (d) {
    const who = (d.actor && (d.actor.name || d.actor.member_id)) || 'someone';
    const approved = d.verdict === 'approved';
    const runLine = !approved
      ? runError || (card.blocking === false
        ? 'This gate does not block the run: its action was skipped and the run went on.'
        : `The run stopped: Rejected at ${card.step_label}: ${d.feedback || ''}`)
      : null;
    return h('div', { class: ['decision', approved ? 'approved' : 'rejected'], id: 'decision', 'data-verdict': d.verdict },
      h('p', { class: 'decision-line' }, badge(approved ? 'succeeded' : 'failed', approved ? 'approved' : 'rejected'), ' ',
        `${approved ? 'Approved' : 'Rejected'} by ${who} at `, timeAt(d.at), ` (${relative(d.at)})`),
      d.comment ? h('div', null, h('p', { class: 'muted small' }, 'Comment'), h('blockquote', { class: 'quote comment' }, d.comment)) : null,
      d.feedback ? h('div', null, h('p', { class: 'muted small' }, 'Feedback'), h('blockquote', { class: 'quote feedback' }, d.feedback)) : null,
      runLine ? h('p', { class: 'run-error-line', id: 'decision-run-error' }, runLine) : null,
      !approved && card.blocking !== false ? rerunButton(card.run_id) : null);
  }
  if (card.status === 'cancelled') {
    return h('div', { class: 'decision cancelled', id: 'decision', 'data-verdict': 'cancelled' },
      h('p', null, 'This gate was cancelled: the run ended before it was decided.'));
  }
  return h('div', { class: 'decision none', id: 'decision' },
    h('p', null, `This gate is ${statusWord(card.status)}: there is nothing to decide yet.`));
}

// ----------------------------------------------------------------- page

export async function mount(ctx) {
  const stepId = ctx.params[0];
  ctx.title('Review');
  const heading = pageHeading('Review');
  const crumbs = h('p', { class: 'crumbs' }, h('a', { href: '/approvals' }, '← Approvals'));
  const meta = h('div', { class: 'meta-row' });
  const notice = alertBox({ id: 'card-notice' });
  const body = h('div', null, loading());
  replace(ctx.main, crumbs, h('div', { class: 'page-head' }, heading), meta, notice.el, body);

  const state = { card: null, busy: false, runError: null, watch: null, products: null };
  // The catalog names the brief's products; the card does not wait for it.
  const productsLoaded = api('/api/catalog/products').then((p) => (p && p.products) || null, () => null);

  async function fetchCard() {
    return api(`/api/dashboard/approvals/${encodeURIComponent(stepId)}`);
  }

  /** Fetches the card again and shows it, with an optional notice on top. */
  async function reload(noticeContent) {
    try {
      const card = await retrying(ctx, fetchCard, notice);
      if (!ctx.alive()) return;
      render(card);
      if (noticeContent) notice.show(...noticeContent);
    } catch {
      // retrying() has shown the error.
    }
  }

  /** Why approving is refused before asking (role, spend cap), or null. */
  function approveBlocked(card) {
    const role = card.required_role;
    const roles = (session.me && session.me.roles) || [];
    if (role && !roles.includes(role)) {
      // The gate's policy covers every decision on it, rejections included.
      return `You can't decide this gate: it needs the ${role} role, which you don't have. Ask a member who has it.`;
    }
    const spend = card.proposed_spend_usd;
    const left = card.spend_cap_remaining_usd;
    if (spend !== null && spend !== undefined && left !== null && left !== undefined && Number(spend) > Number(left)) {
      return `You can't approve this spend: ${money(spend)} is more than the ${money(left)} left of this month's spend cap.`;
    }
    return null;
  }

  function actionsBlock(card) {
    const error = alertBox({ id: 'decision-error' });
    const blocked = approveBlocked(card);
    const role = card.required_role;
    const roleMissing = !!role && !(((session.me && session.me.roles) || []).includes(role));
    const comment = h('textarea', { id: 'approve-comment', name: 'comment', rows: '3', maxlength: '4000' });
    const feedback = h('textarea', { id: 'reject-feedback', name: 'feedback', rows: '4', maxlength: '4000', required: true, 'aria-describedby': 'reject-hint' });
    const sendApproval = h('button', { type: 'submit', class: 'button green send-approval' }, 'Send approval');
    const sendRejection = h('button', { type: 'submit', class: 'button danger send-rejection', disabled: true }, 'Send rejection');
    const cancelApproval = h('button', { type: 'button', class: 'button cancel' }, 'Cancel');
    const cancelRejection = h('button', { type: 'button', class: 'button cancel' }, 'Cancel');
    const approveForm = h('form', { class: 'decide-form', id: 'approve-form', hidden: true },
      h('div', { class: 'field' }, h('label', { for: 'approve-comment' }, 'Comment'), comment,
        h('p', { class: 'hint' }, 'Stored on the step and shown in the run report.')),
      h('div', { class: 'form-actions' }, sendApproval, cancelApproval));
    const rejectForm = h('form', { class: 'decide-form', id: 'reject-form', hidden: true },
      h('div', { class: 'field' }, h('label', { for: 'reject-feedback' }, 'Feedback (required)'), feedback,
        h('p', { class: 'hint', id: 'reject-hint' }, card.blocking === false
          ? 'Say what is wrong. This gate does not block the run: its action is skipped.'
          : 'Say what is wrong. Rejecting this gate stops the whole run; the feedback is kept for a re-run.')),
      h('div', { class: 'form-actions' }, sendRejection, cancelRejection));
    const reason = blocked ? h('p', { class: 'notice warn blocked-reason', id: 'approve-blocked' }, blocked) : null;
    const approve = h('button', { type: 'button', class: 'button green approve', 'aria-describedby': blocked ? 'approve-blocked' : null }, 'Approve');
    const withComment = h('button', {
      type: 'button', class: 'button green-outline approve-comment', 'aria-expanded': 'false', 'aria-controls': 'approve-form',
      'aria-describedby': blocked ? 'approve-blocked' : null,
    }, 'Approve with comment');
    const reject = h('button', { type: 'button', class: 'button danger-outline reject-toggle', 'aria-expanded': 'false', 'aria-controls': 'reject-form' }, 'Reject with feedback');
    const edit = card.suggestion && card.suggestion.edited_proposal !== null && card.suggestion.edited_proposal !== undefined
      ? card.suggestion.edited_proposal
      : null;
    // The edit may commit less spend than the proposal (scaled to the cap's
    // remainder): only the role blocks it here; the server checks the cap.
    const editBlocked = roleMissing;
    const approveEdit = edit === null ? null
      : h('button', { type: 'button', class: 'button green-outline approve-edit', 'aria-describedby': editBlocked ? 'approve-blocked' : null }, 'Approve the agent\'s edit');
    const controls = [approve, withComment, reject, sendApproval, sendRejection, cancelApproval, cancelRejection, comment, feedback];
    if (approveEdit) controls.push(approveEdit);

    const canSendRejection = () => feedback.value.trim().length > 0;
    feedback.addEventListener('input', () => {
      sendRejection.disabled = state.busy || !canSendRejection();
    });

    // One decision form open at a time. While the comment form is open the
    // plain Approve button is hidden: the typed comment can only go out with
    // "Send approval" (or be dropped with Cancel, which brings Approve back).
    function openForm(which) {
      approveForm.hidden = which !== 'approve';
      rejectForm.hidden = which !== 'reject';
      withComment.setAttribute('aria-expanded', String(which === 'approve'));
      reject.setAttribute('aria-expanded', String(which === 'reject'));
      approve.hidden = which === 'approve';
      if (which === 'approve') comment.focus();
      if (which === 'reject') feedback.focus();
    }
    withComment.addEventListener('click', () => {
      openForm(approveForm.hidden ? 'approve' : null);
      if (approveForm.hidden) withComment.focus();
    });
    reject.addEventListener('click', () => {
      openForm(rejectForm.hidden ? 'reject' : null);
      if (rejectForm.hidden) reject.focus();
    });
    cancelApproval.addEventListener('click', () => {
      openForm(null);
      withComment.focus();
    });
    cancelRejection.addEventListener('click', () => {
      openForm(null);
      reject.focus();
    });

    function setBusy(busy) {
      state.busy = busy;
      for (const c of controls) c.disabled = busy;
      if (!busy) {
        sendRejection.disabled = !canSendRejection();
        approve.disabled = !!blocked;
        withComment.disabled = !!blocked;
        if (approveEdit) approveEdit.disabled = editBlocked;
        sendApproval.disabled = !!blocked;
        reject.disabled = roleMissing;
      }
      panel.setAttribute('aria-busy', String(busy));
    }

    /** One plain sentence for a refusal (never the same warning twice). */
    function explain(err, kind) {
      const code = err instanceof ApiError ? err.code : null;
      if (code === 'already_decided') {
        const d = err.body && err.body.decision;
        const text = d
          ? `Someone already decided this: ${(d.actor && (d.actor.name || d.actor.member_id)) || 'someone'} ${d.verdict === 'rejected' ? 'rejected' : 'approved'} it ${relative(d.at)}.`
          : err.message;
        reload([text]);
        return null;
      }
      if (code === 'stale_proposal') {
        return ['The proposal changed since you opened it. Reload to see the new version. ',
          h('button', { type: 'button', class: 'button', onclick: () => reload() }, 'Reload')];
      }
      if (code === 'forbidden') {
        const verb = kind === 'reject' ? 'reject' : 'approve';
        return [role
          ? `Greenlight refused: only a member with the ${role} role can ${verb} this gate.`
          : `Greenlight refused: you don't have the role this gate needs to ${verb} it.`];
      }
      if (code === 'spend_cap_exceeded') {
        return ['Greenlight refused: this spend is more than what is left of this month\'s spend cap.'];
      }
      if (code === 'not_pending') {
        reload([err.message]);
        return null;
      }
      return [describe(err)];
    }

    async function decide(kind, payload) {
      if (state.busy) return;
      setBusy(true);
      error.clear();
      const key = randomKey();
      const url = `/api/dashboard/approvals/${encodeURIComponent(stepId)}/${kind}`;
      let result = null;
      for (let attempt = 0; ; attempt++) {
        try {
          result = await api(url, {
            method: 'POST',
            // The same key on every retry: the server answers a repeat with its first answer.
            headers: { 'Idempotency-Key': key },
            body: { ...payload, proposal_digest: card.proposal_digest },
          });
          break;
        } catch (err) {
          if (!ctx.alive()) return;
          if (err instanceof NetworkError && err.code !== 'aborted' && attempt < 4) {
            // The banner says the server is unreachable; the buttons stay busy meanwhile.
            await new Promise((r) => setTimeout(r, 1000 * 2 ** attempt));
            if (!ctx.alive()) return;
            continue;
          }
          setBusy(false);
          if (err instanceof NetworkError) {
            error.show('Your decision may not have been recorded: Greenlight could not be reached. Reload the card to check.');
            return;
          }
          const content = explain(err, kind);
          if (content) error.show(...content);
          return;
        }
      }
      if (!ctx.alive()) return;
      state.runError = result && result.run_error ? result.run_error : null;
      try {
        const fresh = await retrying(ctx, fetchCard, error);
        if (!ctx.alive()) return;
        render(fresh);
      } catch {
        if (!ctx.alive()) return;
        render({ ...card, status: result.status || card.status, decision: result.decision || null });
      }
      const dec = document.getElementById('decision');
      if (dec) dec.focus({ preventScroll: false });
    }

    approve.addEventListener('click', () => {
      if (blocked || !approveForm.hidden) return;
      decide('approve', {});
    });
    if (approveEdit) {
      approveEdit.addEventListener('click', () => {
        if (editBlocked) return;
        // The edit goes out instead of the proposal; the digest still binds what was shown.
        decide('approve', { edited_proposal: edit });
      });
    }
    approveForm.addEventListener('submit', (e) => {
      e.preventDefault();
      if (blocked) return;
      const text = comment.value.trim();
      decide('approve', text ? { comment: text } : {});
    });
    rejectForm.addEventListener('submit', (e) => {
      e.preventDefault();
      if (!canSendRejection()) {
        error.show('Write the feedback first: it tells the agents what to change.');
        feedback.focus();
        return;
      }
      decide('reject', { feedback: feedback.value.trim() });
    });

    const roles = (session.me && session.me.roles) || [];
    const panel = h('section', { class: 'panel decide', 'aria-labelledby': 'decide-title', id: 'decide' },
      h('h2', { id: 'decide-title', class: 'h4' }, 'Your decision'),
      role && roles.includes(role) ? h('p', { class: 'muted small' }, `This gate needs the ${role} role; you have it.`) : null,
      error.el,
      h('div', { class: 'decide-buttons' }, reason, approve, withComment, approveEdit, reject),
      approveForm,
      rejectForm);
    setBusy(false);
    return panel;
  }

  function render(card) {
    state.card = card;
    notice.clear();
    const label = card.step_label || card.step_key;
    heading.textContent = `${label} gate`;
    ctx.title(`Review ${label}`);
    replace(crumbs,
      h('a', { href: `/runs/${encodeURIComponent(card.run_id)}`, class: 'back-to-run' }, '← Back to run'),
      ' · ', h('a', { href: '/approvals' }, 'All approvals'));
    const waiting = card.status === WAITING;
    replace(meta,
      badge(card.status, waiting ? 'waiting for approval' : statusWord(card.status)),
      h('span', { class: 'meta-title' }, card.workflow_name || card.workflow, card.brief && card.brief.title ? `: ${card.brief.title}` : ''),
      h('span', null, 'Run ', runLink(card.run_id)),
      waiting ? waitingSince(card.created_at) : h('span', null, 'Opened ', timeAgo(card.created_at)),
      // What a rejection would do matters only while there is one to make.
      waiting
        ? (card.blocking !== false
          ? h('span', { class: 'chip blocking' }, 'Rejecting this gate stops the whole run')
          : h('span', { class: 'chip' }, 'Non-blocking: a rejection skips only this gate\'s action'))
        : null);

    const suggestion = card.suggestion;
    // Waiting, with an edit from the approver agent: both, side by side, and what differs.
    const proposalBody = waiting && suggestion && suggestion.edited_proposal !== null && suggestion.edited_proposal !== undefined
      ? [h('div', { class: 'side-by-side', id: 'side-by-side' },
        h('div', { class: 'original' }, h('h3', { class: 'h4' }, 'As proposed'), renderProposal(card)),
        h('div', { class: 'edited' }, h('h3', { class: 'h4' }, 'The approver agent\'s edit'), renderProposal({ ...card, proposal: suggestion.edited_proposal }))),
      h('h3', { class: 'h4' }, 'What the edit changes'),
      renderChanges(card.proposal, suggestion.edited_proposal)]
      : card.approved_edit !== null && card.approved_edit !== undefined
        // Approved with an edit: what went out, beside what was proposed.
        ? [h('p', { class: 'notice', id: 'approved-edit' }, 'Approved with an edit: the action sent the version on the right.'),
          h('div', { class: 'side-by-side', id: 'side-by-side' },
            h('div', { class: 'original' }, h('h3', { class: 'h4' }, 'As proposed'), renderProposal(card)),
            h('div', { class: 'edited' }, h('h3', { class: 'h4' }, 'As approved and sent'), renderProposal({ ...card, proposal: card.approved_edit }))),
          h('h3', { class: 'h4' }, 'What the edit changed'),
          renderChanges(card.proposal, card.approved_edit)]
        : renderProposal(card);

    const briefBox = h('div', { class: 'brief-box' }, renderBrief(card.brief || {}, { products: state.products }));
    if (!state.products) {
      productsLoaded.then((list) => {
        if (!list || !ctx.alive() || state.card !== card) return;
        state.products = list;
        replace(briefBox, renderBrief(card.brief || {}, { products: list }));
      });
    }
    replace(body, h('div', { class: 'review-layout' },
      h('div', { class: 'review-main' },
        h('section', { class: 'panel', 'aria-labelledby': 'proposal-title', id: 'proposal' },
          h('div', { class: 'section-head' },
            h('h2', { id: 'proposal-title', class: 'h3' }, 'Proposal'),
            h('span', { class: 'muted small' }, `${humanize(card.target_output_field || '')} from ${humanize(card.upstream_step_key || 'the agent')}`)),
          proposalBody),
        trailSection(card),
        h('details', { class: 'panel brief', id: 'card-brief' },
          h('summary', null, 'Brief'),
          briefBox)),
      // Waiting: the checklist first (what you go through), then the
      // decision. Decided: the decision first.
      h('aside', { class: 'review-side', 'aria-label': 'Decision' },
        waiting
          ? [checklistSection(card), suggestionSection(card), actionsBlock(card), spendSection(card)]
          : [h('section', { class: 'panel', 'aria-labelledby': 'decision-title' },
            h('h2', { id: 'decision-title', class: 'h4' }, 'Decision'),
            decisionBlock(card, state.runError)),
          suggestionSection(card), spendSection(card), checklistSection(card)])));
    const dec = document.getElementById('decision');
    if (dec) dec.setAttribute('tabindex', '-1');

    // While waiting, notice a decision by someone else, or a changed proposal.
    if (card.status === WAITING && !state.watch) startWatch();
    if (card.status !== WAITING && state.watch) {
      state.watch.stop();
      state.watch = null;
    }
  }

  function startWatch() {
    state.watch = poller(async () => {
      if (state.busy || !state.card) return;
      const fresh = await fetchCard();
      if (!ctx.alive() || state.busy || !state.card || state.card.status !== WAITING) return;
      if (fresh.status !== WAITING) {
        render(fresh);
        notice.show(fresh.status === 'cancelled'
          ? 'This gate was cancelled while you were looking: the run ended.'
          : 'Someone decided this gate while you were looking.');
      } else if (fresh.proposal_digest !== state.card.proposal_digest) {
        notice.show('The proposal changed since you opened it. Reload to see the new version. ',
          h('button', { type: 'button', class: 'button', onclick: () => reload() }, 'Reload'));
      }
    }, 5000);
    ctx.onCleanup(() => state.watch && state.watch.stop());
  }

  ctx.onCleanup(onLiveEvent((e) => {
    if (!state.watch || !state.card) return;
    const d = e.data || {};
    if (d.step_id === stepId || (e.type.startsWith('workflow_run.') && e.run_id === state.card.run_id)) state.watch.trigger();
  }));

  try {
    const card = await retrying(ctx, fetchCard, notice);
    if (!ctx.alive()) return;
    render(card);
  } catch (err) {
    if (!ctx.alive()) return;
    if (err instanceof ApiError && err.status === 404) {
      showNotFound(ctx, { heading, body, box: notice, title: 'Approval not found',
        sentence: 'This approval does not exist in your workspace.', links: [['/approvals', 'Back to Approvals']] });
    } else {
      body.replaceChildren();
    }
  }
}
