// The approver agent on the dashboard, in headless Chromium: a card whose
// proposal repeats a rejected pattern shows the prediction with the past
// feedback, the proposal and the agent's edit side by side with the
// differences marked, and approving the edit works; the Approver agent page
// shows the gate's numbers. Run by tests/tests/browser.rs.
//
// Environment: GREENLIGHT_BASE_URL, GREENLIGHT_PLAYWRIGHT, GREENLIGHT_CHROMIUM,
// GREENLIGHT_SCREENSHOTS, GREENLIGHT_TOKEN (a member's API token),
// GREENLIGHT_REVIEW (the step id of the card), GREENLIGHT_FEEDBACK (the past
// feedback the card must quote).

import { BASE, expect, fail, fullShot, launch, need, step, watch } from './common.mjs';

const TOKEN = need('GREENLIGHT_TOKEN');
const STEP = need('GREENLIGHT_REVIEW');
const FEEDBACK = need('GREENLIGHT_FEEDBACK');
const browser = await launch();

const problems = [];
try {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  context.setDefaultTimeout(15_000);
  const page = watch(await context.newPage(), 'review', problems);

  step('signs in with a token');
  await page.goto(`${BASE}/signin`);
  await page.fill('#signin-token', TOKEN);
  await page.locator('form button[type=submit]').first().click();
  await page.waitForURL(/\/approvals/);

  step('the card predicts a rejection and quotes the past feedback');
  await page.goto(`${BASE}/review/${STEP}`);
  const panel = page.locator('#suggestion');
  await panel.waitFor();
  expect(await panel.getAttribute('data-verdict') === 'reject', 'the prediction is a rejection');
  const reasons = await panel.locator('.reasons li').allTextContents();
  expect(reasons.some((r) => r.includes(FEEDBACK)), `the reasons quote the feedback: ${JSON.stringify(reasons)}`);
  const edits = await panel.locator('.edits li').allTextContents();
  expect(edits.some((e) => e.includes('hashtags')), `the edit is described: ${JSON.stringify(edits)}`);

  step('the proposal and the edit side by side, the differences marked');
  const sides = page.locator('#side-by-side');
  await sides.waitFor();
  expect(await sides.locator('.original').count() === 1 && await sides.locator('.edited').count() === 1, 'both sides shown');
  const removed = await page.locator('#edit-changes del').allTextContents();
  expect(removed.length === 2 && removed.every((t) => t.startsWith('#')), `two hashtags marked removed: ${JSON.stringify(removed)}`);
  const struck = await page.locator('#edit-changes del').first().evaluate((el) => getComputedStyle(el).textDecorationLine);
  expect(struck.includes('line-through'), `removed text is struck through: ${struck}`);
  await fullShot(page, 'review-suggestion.png');

  step('approves the agent\'s edit');
  await page.locator('button.approve-edit').click();
  await page.locator('#decision').waitFor();
  await page.waitForFunction(() => !document.querySelector('button.approve-edit'));
  step('the decided card shows what was sent');
  await page.locator('#approved-edit').waitFor();
  const sent = await page.locator('#edit-changes del').allTextContents();
  expect(sent.length === 2, `the removed hashtags are still marked: ${JSON.stringify(sent)}`);

  step('the Approver agent page shows the gate');
  await page.goto(`${BASE}/approver`);
  const row = page.locator('#approver-stats tr[data-gate="campaign-launch/publish_gate"]');
  await row.waitFor();
  const cells = await row.locator('td').allTextContents();
  expect(cells.some((c) => c.startsWith('49 (16 rejected)')), `decisions counted: ${JSON.stringify(cells)}`);
  expect(cells.some((c) => c === '0.0%'), `agreement shown: ${JSON.stringify(cells)}`);
  await fullShot(page, 'approver-agent.png');
} catch (e) {
  problems.push(e.message);
} finally {
  await browser.close();
}

if (problems.length) fail(problems.join('\n'));
console.log(JSON.stringify({ ok: true }));

