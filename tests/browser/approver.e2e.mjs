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

import { createRequire } from 'node:module';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';

const require = createRequire(import.meta.url);
const BASE = need('GREENLIGHT_BASE_URL');
const { chromium } = require(need('GREENLIGHT_PLAYWRIGHT'));
const SHOTS = need('GREENLIGHT_SCREENSHOTS');
const TOKEN = need('GREENLIGHT_TOKEN');
const STEP = need('GREENLIGHT_REVIEW');
const FEEDBACK = need('GREENLIGHT_FEEDBACK');
mkdirSync(SHOTS, { recursive: true });

function need(name) {
  const v = process.env[name];
  if (!v) fail(`${name} is not set`);
  return v;
}

function fail(message) {
  console.error(`FAILED: ${message}`);
  process.exit(1);
}

function expect(cond, message) {
  if (!cond) throw new Error(message);
}

let browser;
try {
  browser = await chromium.launch({
    executablePath: need('GREENLIGHT_CHROMIUM'),
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    timeout: 60_000,
  });
} catch (e) {
  fail(`the browser did not start: ${e.message}`);
}

const problems = [];
try {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  context.setDefaultTimeout(15_000);
  const page = await context.newPage();
  page.on('dialog', async (d) => { problems.push(`a dialog opened: ${d.message()}`); await d.dismiss(); });
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('console', (m) => {
    if (m.type() === 'error' && /Content Security Policy|Refused to/.test(m.text())) problems.push(m.text());
  });

  console.log('- signs in with a token');
  await page.goto(`${BASE}/signin`);
  await page.fill('#signin-token', TOKEN);
  await page.locator('form button[type=submit]').first().click();
  await page.waitForURL(/\/approvals/);

  console.log('- the card predicts a rejection and quotes the past feedback');
  await page.goto(`${BASE}/review/${STEP}`);
  const panel = page.locator('#suggestion');
  await panel.waitFor();
  expect(await panel.getAttribute('data-verdict') === 'reject', 'the prediction is a rejection');
  const reasons = await panel.locator('.reasons li').allTextContents();
  expect(reasons.some((r) => r.includes(FEEDBACK)), `the reasons quote the feedback: ${JSON.stringify(reasons)}`);
  const edits = await panel.locator('.edits li').allTextContents();
  expect(edits.some((e) => e.includes('hashtags')), `the edit is described: ${JSON.stringify(edits)}`);

  console.log('- the proposal and the edit side by side, the differences marked');
  const sides = page.locator('#side-by-side');
  await sides.waitFor();
  expect(await sides.locator('.original').count() === 1 && await sides.locator('.edited').count() === 1, 'both sides shown');
  const removed = await page.locator('#edit-changes del').allTextContents();
  expect(removed.length === 2 && removed.every((t) => t.startsWith('#')), `two hashtags marked removed: ${JSON.stringify(removed)}`);
  const struck = await page.locator('#edit-changes del').first().evaluate((el) => getComputedStyle(el).textDecorationLine);
  expect(struck.includes('line-through'), `removed text is struck through: ${struck}`);
  await fullShot(page, 'review-suggestion.png');

  console.log('- approves the agent\'s edit');
  await page.locator('button.approve-edit').click();
  await page.locator('#decision').waitFor();
  await page.waitForFunction(() => !document.querySelector('button.approve-edit'));

  console.log('- the Approver agent page shows the gate');
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

// A screenshot of the whole page, taken with a viewport as tall as the page
// (a full-page capture would clip sticky panels sized to the viewport).
async function fullShot(page, name) {
  const size = page.viewportSize();
  const height = await page.evaluate(() => document.documentElement.scrollHeight);
  await page.setViewportSize({ width: size.width, height: Math.max(size.height, height) });
  await page.waitForTimeout(100);
  await page.screenshot({ path: join(SHOTS, name) });
  await page.setViewportSize(size);
}
