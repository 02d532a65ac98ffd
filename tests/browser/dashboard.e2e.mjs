// The dashboard end to end in headless Chromium, driven by playwright-core.
// Run by tests/tests/browser.rs against a fresh `greenlight dev` on a free
// port; any failed expectation exits non-zero with the reason.
//
// Environment: GREENLIGHT_BASE_URL, GREENLIGHT_PLAYWRIGHT (playwright-core's
// directory), GREENLIGHT_CHROMIUM (the browser), GREENLIGHT_SCREENSHOTS (where
// to write the PNGs). Prints one JSON line at the end: what it created.

import { BASE, expect, fail, fullShot, launch, step, watch as watchPage } from './common.mjs';

const browser = await launch();

const NOTES = 'Keep it calm. <script>alert("notes")</script><img src=x onerror=alert(1)>';
const problems = [];
const result = {};
try {
  const context = await browser.newContext({ viewport: { width: 1280, height: 860 } });
  context.setDefaultTimeout(15_000);
  const watch = (page, name) => watchPage(page, name, problems);

  // ---- sign in -----------------------------------------------------------
  const queue = watch(await context.newPage(), 'approvals tab');
  await queue.goto(`${BASE}/approvals`);
  await queue.waitForURL(/\/signin/);
  step('an unsigned visitor lands on the sign-in page');
  await queue.getByRole('button', { name: /Alice Moreau/ }).click();
  await queue.waitForURL(/\/approvals/);
  await queue.getByText('Linen & Loom').first().waitFor();
  await queue.getByText('Alice Moreau').first().waitFor();
  await queue.getByText('Nothing waiting for approval').waitFor();
  step('signed in as alice with one click; the header names her and her workspace; the queue is empty');

  // ---- start a Campaign Launch from the Brief page, in a second tab ------
  const run = watch(await context.newPage(), 'run tab');
  await run.goto(`${BASE}/brief?workflow=campaign-launch`);
  const form = run.locator('form');
  await form.getByLabel(/^Title/).fill('Spring linen launch');
  await form.getByLabel(/^Goal/).fill('Introduce the Sage sheet set to people who saved our posts.');
  const boxes = form.getByRole('checkbox');
  expect((await boxes.count()) >= 2, 'the brief form lists the workspace products as checkboxes');
  await boxes.nth(0).check();
  await boxes.nth(1).check();
  // Over $1,000 in total: the recipe's policy reserves the gate for ops-lead.
  await form.getByLabel(/Budget/i).fill('250');
  await form.getByLabel(/days/i).fill('5');
  await form.getByLabel(/^Notes/).fill(NOTES);
  await run.getByRole('button', { name: 'Start run' }).click();
  await run.waitForURL(/\/runs\/run_/);
  const runId = run.url().split('/runs/')[1].split(/[?#]/)[0];
  result.rejected_run = runId;
  step(`started ${runId} from the Brief page and landed on its Run page`);

  // ---- four approvals arrive in the first tab without a reload ----------
  await queue.bringToFront();
  const rows = queue.locator('[data-step-id]');
  await expectCount(rows, 4, 'four approvals on the Approvals page');
  await queue.locator('#approvals-count').filter({ hasText: '4' }).waitFor();
  expect((await queue.locator('[data-step-id]').first().innerText()).includes('Campaign Launch'),
    'rows name the workflow');
  await queue.getByText('$1,250.00').first().waitFor();
  await fullShot(queue, 'approvals.png');
  step('four approvals appeared live, with the count in the navigation and the proposed spend');

  // ---- the Run page: four yellow gate nodes ------------------------------
  await run.bringToFront();
  const gates = run.locator('g.node[data-status="waiting_for_approval"]');
  await expectCount(gates, 4, 'four waiting gate nodes on the Run page');
  for (let i = 0; i < 4; i++) {
    const fill = await gates.nth(i).locator('rect').first().evaluate((r) => getComputedStyle(r).fill);
    expect(isYellow(fill), `a waiting gate node is yellow (got ${fill})`);
    expect(/waiting/i.test(await gates.nth(i).textContent()), 'the node says "waiting" beside its colour');
  }
  await run.locator('#approvals-count').filter({ hasText: '4' }).waitFor();
  await fullShot(run, 'run-waiting.png');
  step('four yellow gate nodes, each labelled "waiting"; the count in the navigation says 4');

  // Screenshots of the four Review cards.
  const cardUrls = {};
  for (const key of ['listings_gate', 'publish_gate', 'ad_spend_gate', 'outreach_gate']) {
    cardUrls[key] = `${BASE}/review/${runId}.${key}`;
  }
  const shot = watch(await context.newPage(), 'card tab');
  for (const [key, url] of Object.entries(cardUrls)) {
    await shot.goto(url);
    await shot.getByRole('button', { name: 'Approve', exact: true }).waitFor();
    await shot.locator('img').first().waitFor({ state: 'attached', timeout: 1000 }).catch(() => {});
    await fullShot(shot, `card-${key.replace('_gate', '')}.png`);
  }
  // The brief's markup, shown on the card, is text.
  await shot.getByText('Brief', { exact: true }).click();
  await shot.getByText(NOTES).first().waitFor();
  await shot.goto(cardUrls.publish_gate);
  const img = shot.locator('img[src^="/api/runs/"]').first();
  await img.waitFor();
  expect(await img.evaluate((i) => i.complete && i.naturalWidth > 0), 'the rendered asset preview loads');
  await shot.close();
  step('the four Review cards render, the caption card with its asset preview');

  // ---- approve one from the Run page's Review button ---------------------
  await run.getByRole('button', { name: /Review Listings/ }).or(run.getByRole('link', { name: /Review Listings/ })).first().click();
  await run.waitForURL(/\/review\/.*listings_gate/);
  await run.getByRole('button', { name: 'Approve', exact: true }).click();
  await run.locator('.decision').filter({ hasText: /Approved by Alice Moreau/ }).waitFor();
  step('approved Listings from the Run page; the card shows who approved');

  // ---- approve one with a comment ----------------------------------------
  await run.goto(cardUrls.publish_gate);
  await run.getByRole('button', { name: 'Approve with comment' }).click();
  await run.getByLabel(/^Comment/).fill('Lovely light. <b>bold?</b>');
  await run.getByRole('button', { name: 'Send approval' }).click();
  await run.locator('.decision').filter({ hasText: 'Lovely light. <b>bold?</b>' }).waitFor();
  step('approved Publish with a comment; the comment shows as text');

  // ---- the ad spend gate needs ops-lead: alice sees why ------------------
  await run.goto(cardUrls.ad_spend_gate);
  await run.locator('#approve-blocked').filter({ hasText: /ops-lead/ }).waitFor();
  for (const name of ['Approve', 'Approve with comment', 'Reject with feedback']) {
    expect(await run.getByRole('button', { name, exact: true }).isDisabled(),
      `${name} is disabled for a member without the gate's role`);
  }
  step('the $1,250 ad spend card tells alice it needs the ops-lead role, and offers her no decision');

  // ---- reject with feedback: the button waits for the feedback -----------
  await run.goto(cardUrls.outreach_gate);
  await run.getByRole('button', { name: 'Reject with feedback' }).click();
  const send = run.getByRole('button', { name: 'Send rejection' });
  expect(await send.isDisabled(), 'Send rejection is disabled while the feedback is empty');
  await run.getByLabel(/^Feedback/).fill('   ');
  expect(await send.isDisabled(), 'Send rejection stays disabled for blank feedback');
  const feedback = 'These DMs read like ads <img src=x onerror=alert(2)>';
  await run.getByLabel(/^Feedback/).fill(feedback);
  expect(await send.isEnabled(), 'Send rejection is enabled once feedback is typed');
  await send.click();
  await run.locator('.decision').filter({ hasText: /Rejected by Alice Moreau/ }).waitFor();
  step('Send rejection stayed disabled until feedback was typed; rejected Outreach');

  // ---- the run failed; the remaining gate left the queue -----------------
  await run.goto(`${BASE}/runs/${runId}`);
  await run.locator('#run-error').filter({ hasText: `Rejected at Outreach: ${feedback}` }).waitFor();
  await expectCount(run.locator('g.node[data-status="waiting_for_approval"]'), 0, 'no gate waits after the rejection');
  await run.locator('g.node[data-step-key="ad_spend_gate"][data-status="cancelled"]').waitFor();
  await queue.bringToFront();
  await expectCount(queue.locator('[data-step-id]'), 0, 'the Approvals page empties without a reload');
  step('the Run page shows "Rejected at Outreach: …"; Ad Spend was cancelled and left the queue');

  // ---- re-run with notes, approve everything, read the report ------------
  await run.bringToFront();
  await run.getByRole('button', { name: /Re-run with notes/ }).or(run.getByRole('link', { name: /Re-run with notes/ })).first().click();
  await run.waitForURL(/\/brief\?rerun_of=/);
  const notes = run.getByLabel(/^Notes/);
  expect((await notes.inputValue()).includes('Rejected at Outreach'), 'the notes are prefilled with the rejection');
  await notes.fill(`${await notes.inputValue()} Write to creators as people, not as an ad.`);
  await run.getByRole('button', { name: /Start re-run/ }).click();
  await run.waitForURL(/\/runs\/run_/);
  const second = run.url().split('/runs/')[1].split(/[?#]/)[0];
  expect(second !== runId, 'the re-run is a new run');
  result.approved_run = second;
  await expectCount(run.locator('g.node[data-status="waiting_for_approval"]'), 4, 'the re-run waits at four gates');
  step(`re-ran with notes as ${second}`);

  // The re-run keeps the $1,250 budget, so its ad spend needs ops-lead: olivia signs in.
  const olivia = watch(await (await browser.newContext({ viewport: { width: 1280, height: 860 } })).newPage(), 'olivia');
  await olivia.goto(`${BASE}/signin`);
  await olivia.getByRole('button', { name: /Olivia Chen/ }).click();
  await olivia.waitForURL(/\/approvals/);
  const comment = 'Ship it, and watch the first *two* days | closely <3 & _see_.';
  for (const key of ['listings_gate', 'publish_gate', 'ad_spend_gate', 'outreach_gate']) {
    await olivia.goto(`${BASE}/review/${second}.${key}`);
    if (key === 'ad_spend_gate') {
      await olivia.getByRole('button', { name: 'Approve with comment' }).click();
      await olivia.getByLabel(/^Comment/).fill(comment);
      await olivia.getByRole('button', { name: 'Send approval' }).click();
    } else {
      await olivia.getByRole('button', { name: 'Approve', exact: true }).click();
    }
    await olivia.locator('.decision').filter({ hasText: /Approved by Olivia Chen/ }).waitFor();
  }
  await olivia.goto(`${BASE}/runs/${second}`);
  await olivia.getByText(/succeeded/i).first().waitFor();
  await olivia.getByText(comment).first().waitFor({ timeout: 20_000 });
  // The report's Markdown quotes it literally: no emphasis, no entities.
  await olivia.locator('#run-report .markdown').filter({ hasText: comment }).waitFor();
  step('olivia approved all four (one with a comment); the run succeeded and its report quotes the comment');

  // ---- sign out ends the session ----------------------------------------
  await olivia.getByRole('button', { name: 'Sign out' }).click();
  await olivia.waitForURL(/\/signin/);
  const status = await olivia.evaluate(async () => (await fetch('/api/me')).status);
  expect(status === 401, `after sign-out /api/me answers 401 (got ${status})`);
  step('sign-out ends the session');
} catch (e) {
  problems.push(e.stack || String(e));
} finally {
  await browser.close();
}

if (problems.length) fail(problems.join('\n'));
console.log(JSON.stringify(result));

async function expectCount(locator, n, what) {
  const deadline = Date.now() + 20_000;
  let seen = -1;
  while (Date.now() < deadline) {
    seen = await locator.count();
    if (seen === n) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${what}: expected ${n}, saw ${seen}`);
}


function isYellow(fill) {
  // A yellow of any lightness: hue between amber and lemon, clearly not grey.
  const m = fill.match(/rgba?\((\d+),\s*(\d+),\s*(\d+)/);
  if (!m) return false;
  const [r, g, b] = m.slice(1).map(Number);
  const max = Math.max(r, g, b);
  const min = Math.min(r, g, b);
  if (max - min < 40 || b !== min) return false;
  const hue = r === max ? 60 * ((g - b) / (max - min)) : 60 * (2 + (b - r) / (max - min));
  return hue >= 35 && hue <= 65;
}
