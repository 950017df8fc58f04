// The dashboard's first render, timed in headless Chromium against a
// running server (release build) whose database holds the deflection
// benchmark's events. Not a test; see README "Benchmarks":
//
//   cargo bench --bench deflection -- --sizes 1000000      # bench/work/deflection-1000000.db
//   agora user create … --role analyst; agora serve         # on that database
//   AGORA_URL=http://127.0.0.1:8080 AGORA_LOGIN=bench-analyst AGORA_PASSWORD=… \
//     node bench/dashboard.mjs [runs]
//
// "First render": from the click on "Sign in" to the tiers, costs, chart and
// hold-out test on screen. "Complete": the top questions and gaps too.
import { createRequire } from 'node:module';

const require = createRequire(new URL('../tests/browser/', import.meta.url));
const { chromium } = require('playwright-core');
const BASE = process.env.AGORA_URL || 'http://127.0.0.1:8080';
const runs = Number(process.argv[2] || 5);

const browser = await chromium.launch({ executablePath: process.env.AGORA_CHROMIUM || '/usr/bin/chromium' });
const first = [];
const complete = [];
for (let i = 0; i < runs; i++) {
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  await page.goto(`${BASE}/dashboard`);
  await page.getByLabel('Username or email').fill(process.env.AGORA_LOGIN);
  await page.getByLabel('Password').fill(process.env.AGORA_PASSWORD);
  const started = Date.now();
  await page.getByRole('button', { name: 'Sign in' }).click();
  await Promise.all([
    page.locator('#confirmed:not([data-value=""])').waitFor({ timeout: 60000 }),
    page.locator('#cost-confirmed:not([data-value=""])').waitFor({ timeout: 60000 }),
    page.locator('#chart canvas').waitFor({ timeout: 60000 }),
    page.locator('#experiment-table tbody tr').first().waitFor({ timeout: 60000 })
  ]);
  first.push(Date.now() - started);
  await page.locator('#status', { hasText: /^Showing / }).waitFor({ timeout: 120000 });
  complete.push(Date.now() - started);
  console.log(`run ${i + 1}: first render ${first.at(-1)} ms, complete ${complete.at(-1)} ms`);
  await page.close();
}
await browser.close();
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
console.log(`median of ${runs}: first render ${median(first)} ms, complete ${median(complete)} ms`);
