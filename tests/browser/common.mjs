// What the dashboard's browser scripts share: their environment, failing
// with a reason, launching Debian's Chromium through playwright-core, and
// whole-page screenshots.

import { createRequire } from 'node:module';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';

const require = createRequire(import.meta.url);

export function need(name) {
  const v = process.env[name];
  if (!v) fail(`${name} is not set`);
  return v;
}

export function fail(message) {
  console.error(`FAILED: ${message}`);
  process.exit(1);
}

export function expect(cond, message) {
  if (!cond) throw new Error(message);
}

export function step(message) {
  console.log(`- ${message}`);
}

export const BASE = need('GREENLIGHT_BASE_URL');
export const SHOTS = need('GREENLIGHT_SCREENSHOTS');
mkdirSync(SHOTS, { recursive: true });

/** Headless Chromium, or exit with the reason it did not start. */
export async function launch() {
  const { chromium } = require(need('GREENLIGHT_PLAYWRIGHT'));
  try {
    return await chromium.launch({
      executablePath: need('GREENLIGHT_CHROMIUM'),
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
        '--disable-background-networking', '--disable-component-update', '--disable-sync'],
      timeout: 60_000,
    });
  } catch (e) {
    fail(`the browser did not start: ${e.message}`);
  }
}

/** Records on `problems` any dialog (injected script ran), page error or CSP violation. */
export function watch(page, name, problems) {
  page.on('dialog', async (d) => { problems.push(`${name}: a dialog opened: ${d.message()}`); await d.dismiss(); });
  page.on('pageerror', (e) => problems.push(`${name}: page error: ${e.message}`));
  page.on('console', (m) => {
    if (m.type() === 'error' && /Content Security Policy|Refused to/.test(m.text())) {
      problems.push(`${name}: ${m.text()}`);
    }
  });
  return page;
}

// A screenshot of the whole page, taken with a viewport as tall as the page
// (a full-page capture would clip sticky panels sized to the viewport).
export async function fullShot(page, name) {
  const size = page.viewportSize();
  const height = await page.evaluate(() => document.documentElement.scrollHeight);
  await page.setViewportSize({ width: size.width, height: Math.max(size.height, height) });
  await page.waitForTimeout(100);
  await page.screenshot({ path: join(SHOTS, name) });
  await page.setViewportSize(size);
}
