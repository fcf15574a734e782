// Headless Chromium (Debian's, through playwright-core; Playwright's own
// browser download is not used) loading a page, with a screenshot:
//   node browser.mjs URL SCREENSHOT.png [WAIT_SELECTOR] [SECONDS] [SETTLE_SECONDS]
// Prints one JSON line: window.results (when the page sets it), the page's
// console errors and failed requests.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

const [url, screenshot, selector = 'body[data-done]', seconds = '60', settle = '0'] = process.argv.slice(2);
const profile = mkdtempSync(join(tmpdir(), 'pyarmonik-chromium-'));
const context = await chromium.launchPersistentContext(profile, {
  executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
  headless: true,
  viewport: { width: 1400, height: 900 },
  args: [
    '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
    '--disable-sync', '--no-first-run',
  ],
});
const errors = [];
try {
  const page = await context.newPage();
  page.on('console', (message) => { if (message.type() === 'error') errors.push(message.text()); });
  page.on('pageerror', (error) => errors.push(String(error)));
  page.on('requestfailed', (request) => {
    if (request.failure()?.errorText !== 'net::ERR_ABORTED') errors.push(`${request.url()}: ${request.failure()?.errorText}`);
  });
  await page.goto(url);
  await page.waitForSelector(selector, { timeout: Number(seconds) * 1000 });
  await page.waitForTimeout(Number(settle) * 1000); // animations (the GUI's graphs) come to rest
  await page.screenshot({ path: screenshot, fullPage: false });
  const results = await page.evaluate(() => window.results ?? null);
  console.log(JSON.stringify({ url: page.url(), results, errors }));
} finally {
  await context.close();
  rmSync(profile, { recursive: true, force: true });
}
