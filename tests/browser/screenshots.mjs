// Screenshots of the front door on the demo community, for docs/ and the
// README. Not a test: run it against `agora serve --demo` when the pages
// change:
//   AGORA_URL=http://127.0.0.1:8080 node tests/browser/screenshots.mjs
import { chromium } from 'playwright-core';

const BASE = process.env.AGORA_URL || 'http://127.0.0.1:8080';
const OUT = new URL('../../docs/', import.meta.url).pathname;

const browser = await chromium.launch({ executablePath: process.env.AGORA_CHROMIUM || '/usr/bin/chromium' });
for (const [name, width] of [['dashboard.png', 1100], ['dashboard-narrow.png', 320]]) {
  const page = await browser.newPage({ viewport: { width, height: 900 } });
  await page.goto(`${BASE}/dashboard`);
  await page.getByLabel('Username or email').fill('analyst-omar');
  await page.getByLabel('Password').fill('demo-password-2026');
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.locator('#status', { hasText: /^Showing / }).waitFor({ timeout: 15000 });
  await page.screenshot({ path: OUT + name, fullPage: width > 320 });
  await page.close();
}
const landing = await browser.newPage({ viewport: { width: 900, height: 900 } });
await landing.goto(`${BASE}/`);
await landing.screenshot({ path: OUT + 'landing.png', fullPage: true });
await browser.close();
console.log(`screenshots written to ${OUT}`);
