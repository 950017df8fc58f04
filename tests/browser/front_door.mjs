// The front door's scenarios in headless Chromium, run by
// tests/browser/main.rs against a seeded server (AGORA_URL): the landing
// page, the API reference and the deflection dashboard. CSP refusals and
// page errors fail every scenario; axe-core is evaluated through the
// DevTools protocol, so the pages' own policy stays in force.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { chromium } from 'playwright-core';

const require = createRequire(import.meta.url);
const AXE = readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');
const BASE = process.env.AGORA_URL;
const PASSWORD = process.env.AGORA_PASSWORD;
const ANALYST = process.env.AGORA_ANALYST_LOGIN;
const RESIDENT = process.env.AGORA_RESIDENT_LOGIN;
const ANALYST_TOKEN = process.env.AGORA_ANALYST_TOKEN;
const OPERATIONS = JSON.parse(process.env.AGORA_SPEC_OPERATIONS || '[]');
const FILTER_CATEGORY = process.env.AGORA_FILTER_CATEGORY;
const MARKUP_QUERY = process.env.AGORA_MARKUP_QUERY;

function check(condition, message) {
  if (!condition) throw new Error(message);
}

async function api(path) {
  const response = await fetch(BASE + path, { headers: { Authorization: `Bearer ${ANALYST_TOKEN}` } });
  if (!response.ok) throw new Error(`${path}: ${response.status} ${await response.text()}`);
  return response.json();
}

let browser;

/** A fresh browser context on `path`; page errors and CSP refusals fail. */
async function open(path, options = {}) {
  const context = await browser.newContext({ acceptDownloads: true, ...options.context });
  const page = await context.newPage();
  const problems = [];
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('console', (m) => {
    const text = m.text();
    // A 401 the page handles itself (wrong password) is logged by Chromium.
    if (m.type() === 'error' && !(options.allowStatus && text.includes(`status of ${options.allowStatus}`))) {
      problems.push(`console: ${text}`);
    }
  });
  if (options.route) await options.route(page);
  const response = await page.goto(BASE + path);
  check(response.status() === 200, `${path} answered ${response.status()}`);
  const done = async () => {
    await context.close();
    check(problems.length === 0, problems.join('\n'));
  };
  return { context, page, done };
}

async function audit(page, where) {
  await page.evaluate(AXE);
  const result = await page.evaluate(() => window.axe.run(document, { resultTypes: ['violations'] }));
  const bad = result.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  const describe = (v) => `${v.id} (${v.impact}): ${v.help} — ${v.nodes.slice(0, 2).map((n) => n.html).join(' | ')}`;
  check(bad.length === 0, `${where}: ${bad.map(describe).join('; ')}`);
}

async function fitsNarrowScreen(page, where) {
  const width = await page.evaluate(() => document.scrollingElement.scrollWidth);
  check(width <= 320, `${where} scrolls sideways at 320 px (${width} px wide)`);
}

async function waitForDocs(page) {
  await page.locator('.opblock').first().waitFor({ timeout: 15000 });
}

async function signIn(page, login, password = PASSWORD) {
  await page.getByLabel('Username or email').fill(login);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Sign in' }).click();
}

/** Signs in as the analyst and waits for every figure. */
async function signedInBoard(options = {}) {
  const session = await open('/dashboard', options);
  await signIn(session.page, ANALYST);
  await waitForFigures(session.page);
  return session;
}

async function waitForFigures(page) {
  await page.locator('#status', { hasText: /^Showing / }).waitFor({ timeout: 10000 });
}

async function figures(page) {
  return page.evaluate(() => {
    const value = (id) => Number(document.getElementById(id).dataset.value);
    return {
      from: document.getElementById('from').value,
      to: document.getElementById('to').value,
      confirmed: value('confirmed'),
      probable: value('probable'),
      potential: value('potential'),
      costConfirmed: value('cost-confirmed'),
      costProbable: value('cost-probable')
    };
  });
}

function sameAsSummary(shown, summary, what) {
  const expected = {
    confirmed: summary.confirmed.count,
    probable: summary.probable.count,
    potential: summary.potential.count,
    costConfirmed: summary.cost_avoided.confirmed.point,
    costProbable: summary.cost_avoided.probable.point
  };
  for (const [key, value] of Object.entries(expected)) {
    check(shown[key] === value, `${what}: ${key} shows ${shown[key]}, the API says ${value}`);
  }
}

const scenarios = {
  async 'every link on the landing page works'() {
    const { context, page, done } = await open('/');
    check((await page.locator('h1').textContent()).includes('Agora'), 'the landing page names the product');
    const links = await page.locator('a[href]').evaluateAll((as) => as.map((a) => a.getAttribute('href')));
    for (const wanted of ['/docs', '/dashboard', '/widget/demo', '/healthz', '/readyz', '/metrics', '/openapi.yaml']) {
      check(links.includes(wanted), `the landing page links to ${wanted}`);
    }
    for (const href of links.filter((h) => h.startsWith('/'))) {
      const response = await context.request.get(BASE + href);
      check(response.status() === 200, `${href} answered ${response.status()}`);
    }
    check((await page.locator('#demo-logins').count()) === 0, 'no demo logins outside demo mode');
    await page.getByRole('link', { name: 'API reference' }).click();
    await waitForDocs(page);
    await page.goBack();
    await page.getByRole('link', { name: 'Deflection dashboard' }).click();
    await page.getByRole('heading', { name: 'Sign in' }).waitFor();
    await done();
  },

  async '/docs renders every operation of the spec'() {
    check(OPERATIONS.length > 50, `the spec lists ${OPERATIONS.length} operations`);
    const { page, done } = await open('/docs');
    await waitForDocs(page);
    const shown = await page.locator('.opblock').evaluateAll((blocks) =>
      blocks.map((b) => {
        const method = b.querySelector('.opblock-summary-method').textContent.trim().toUpperCase();
        const path = b.querySelector('.opblock-summary-path').getAttribute('data-path');
        return `${method} ${path}`;
      }));
    const missing = OPERATIONS.filter((op) => !shown.includes(op));
    check(missing.length === 0, `missing from /docs: ${missing.join(', ')}`);
    check(shown.length === OPERATIONS.length, `/docs shows ${shown.length} operations, the spec has ${OPERATIONS.length}`);
    // The reference is the served contract, not a copy.
    const requests = [];
    page.on('request', (r) => requests.push(r.url()));
    await page.reload();
    await waitForDocs(page);
    check(requests.some((u) => u === `${BASE}/openapi.yaml`), 'the reference is read from /openapi.yaml');
    check(requests.every((u) => u.startsWith(BASE)), `a request left the node: ${requests.filter((u) => !u.startsWith(BASE))}`);
    await done();
  },

  async 'the dashboard shows what /deflection/summary says, for the same period'() {
    const { page, done } = await signedInBoard();
    const shown = await figures(page);
    const summary = await api(`/api/v1/deflection/summary?from=${shown.from}&to=${shown.to}`);
    sameAsSummary(shown, summary, 'all categories');
    check(shown.confirmed > 0, 'the seeded confirmations show');
    const rows = await page.locator('#series-table tbody tr').count();
    const series = await api(`/api/v1/deflection/timeseries?from=${shown.from}&to=${shown.to}`);
    check(rows === series.buckets.length, `the chart's table has ${rows} rows for ${series.buckets.length} buckets`);
    check((await page.locator('#chart canvas').count()) > 0, 'the chart is drawn');
    const top = await page.locator('#questions-table tbody tr').first().textContent();
    check(top.includes('green bin'), `the top deflecting question is listed: ${top}`);
    await page.locator('#confirmed').locator('xpath=..').getByText('What is this?').click();
    check(await page.getByText('an exact figure, the one to quote').isVisible(), 'the definition is one click away');
    await done();
  },

  async 'the category filter changes the figures'() {
    const { page, done } = await signedInBoard();
    const all = await figures(page);
    await page.getByLabel('Category').selectOption({ label: `Category ${FILTER_CATEGORY}` });
    await page.locator('#status', { hasText: `Category ${FILTER_CATEGORY}` }).waitFor({ timeout: 10000 });
    const filtered = await figures(page);
    const summary = await api(`/api/v1/deflection/summary?from=${filtered.from}&to=${filtered.to}&category=${FILTER_CATEGORY}`);
    sameAsSummary(filtered, summary, FILTER_CATEGORY);
    check(filtered.confirmed !== all.confirmed, `the filter changed nothing (${all.confirmed} confirmed either way)`);
    await done();
  },

  async 'the CSV downloads with the figures of the period'() {
    const { page, done } = await signedInBoard();
    const [download] = await Promise.all([
      page.waitForEvent('download'),
      page.getByRole('button', { name: 'Download the figures (CSV)' }).click()
    ]);
    const csv = readFileSync(await download.path(), 'utf8');
    check(csv.startsWith('bucket_start,bucket_end,category,confirmed'), `the CSV starts: ${csv.slice(0, 60)}`);
    check(download.suggestedFilename().endsWith('.csv'), `the file is named ${download.suggestedFilename()}`);
    const confirmed = csv.trim().split('\n').slice(1).reduce((sum, line) => sum + Number(line.split(',')[3]), 0);
    check(confirmed === (await figures(page)).confirmed, `the CSV's confirmed add up to ${confirmed}`);
    await done();
  },

  async 'a resident is refused with a clear message'() {
    const { page, done } = await open('/dashboard');
    await signIn(page, RESIDENT);
    const alert = page.locator('#sign-in-error');
    await alert.filter({ hasText: 'cannot see the dashboard' }).waitFor({ timeout: 5000 });
    check((await alert.textContent()).includes('analyst'), 'the message says who may');
    check(await page.locator('#board').isHidden(), 'no figures for a resident');
    await done();
  },

  async 'a wrong password is refused without figures'() {
    const { page, done } = await open('/dashboard', { allowStatus: 401 });
    await signIn(page, ANALYST, 'not the password at all');
    await page.locator('#sign-in-error', { hasText: 'not right' }).waitFor({ timeout: 5000 });
    check(await page.locator('#board').isHidden(), 'no figures after a wrong password');
    await done();
  },

  async 'an expired access token is refreshed once and the figures still load'() {
    let refused = false;
    let refreshed = 0;
    const route = async (page) => {
      await page.route('**/api/v1/deflection/summary*', async (r) => {
        if (refused) return r.continue();
        refused = true;
        await r.fulfill({ status: 401, contentType: 'application/problem+json', body: '{"title":"expired","status":401}' });
      });
      page.on('request', (r) => { if (r.url().endsWith('/api/v1/auth/refresh')) refreshed += 1; });
    };
    const { page, done } = await signedInBoard({ route, allowStatus: 401 });
    check(refused && refreshed === 1, `refreshed ${refreshed} times`);
    check((await figures(page)).confirmed > 0, 'the figures loaded with the new token');
    await done();
  },

  async 'text from residents is shown as text'() {
    const { page, done } = await signedInBoard();
    await page.locator('#zero-table').getByText(MARKUP_QUERY.toLowerCase()).waitFor({ timeout: 5000 });
    check(!(await page.evaluate(() => window.__agoraXss)), 'a search text ran as markup');
    await done();
  },

  async 'signing out forgets the session'() {
    const { page, done } = await signedInBoard();
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByRole('heading', { name: 'Sign in' }).waitFor();
    check(await page.locator('#board').isHidden(), 'the figures are hidden');
    await page.reload();
    check(await page.locator('#board').isHidden(), 'a reload does not sign back in');
    await done();
  },

  async 'axe-core finds no serious or critical violation on /, /docs and /dashboard'() {
    const landing = await open('/');
    await audit(landing.page, '/');
    await landing.done();
    const docs = await open('/docs');
    await waitForDocs(docs.page);
    await audit(docs.page, '/docs');
    await docs.page.locator('.opblock-summary-control').first().click();
    await docs.page.locator('.opblock-body').first().waitFor();
    await audit(docs.page, '/docs with an operation open');
    await docs.done();
    const board = await open('/dashboard');
    await audit(board.page, '/dashboard, signed out');
    await signIn(board.page, ANALYST);
    await waitForFigures(board.page);
    await board.page.locator('details summary').first().click();
    await audit(board.page, '/dashboard, signed in');
    await board.done();
  },

  async 'every page works 320 px wide'() {
    const context = { viewport: { width: 320, height: 640 } };
    const landing = await open('/', { context });
    await fitsNarrowScreen(landing.page, '/');
    await landing.done();
    const docs = await open('/docs', { context });
    await waitForDocs(docs.page);
    await docs.page.locator('.opblock-summary-control').first().click();
    await fitsNarrowScreen(docs.page, '/docs');
    await docs.done();
    const board = await signedInBoard({ context });
    await fitsNarrowScreen(board.page, '/dashboard');
    await board.done();
  }
};

browser = await chromium.launch({ executablePath: process.env.AGORA_CHROMIUM || '/usr/bin/chromium' });
let failed = 0;
const only = process.env.AGORA_SCENARIO;
for (const [name, run] of Object.entries(scenarios)) {
  if (only && !name.includes(only)) continue;
  const started = Date.now();
  try {
    await run();
    console.log(`ok    ${name} (${Date.now() - started} ms)`);
  } catch (e) {
    failed += 1;
    console.log(`FAIL  ${name}\n      ${e.message.split('\n').join('\n      ')}`);
  }
}
await browser.close();
process.exit(failed ? 1 : 0);
