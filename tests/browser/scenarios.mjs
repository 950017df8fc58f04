// The widget's scenarios in headless Chromium, run by tests/browser/main.rs
// against a seeded server (AGORA_URL). Each scenario gets its own browser
// context, so its own visitor (localStorage) and its own intent.
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { createRequire } from 'node:module';
import { chromium } from 'playwright-core';

const require = createRequire(import.meta.url);
const AXE = readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');
const BASE = process.env.AGORA_URL;
const COUNCIL = process.env.AGORA_COUNCIL_ORIGIN;
const ANALYST = process.env.AGORA_ANALYST_TOKEN;
const ADMIN = process.env.AGORA_ADMIN_TOKEN;
const SCREENSHOT = process.env.AGORA_WIDGET_SCREENSHOT;
// HeadlessChrome is on the server's bot list (its events would not count);
// a resident's browser says it is Chrome.
const USER_AGENT =
  'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 Safari/537.36';
const LINKS = '.agora-widget:not([hidden]) .agora-widget__link';

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

function check(condition, message) {
  if (!condition) throw new Error(message);
}

async function api(path, token, init = {}) {
  const headers = { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' };
  const response = await fetch(BASE + path, { ...init, headers });
  if (!response.ok) throw new Error(`${path}: ${response.status} ${await response.text()}`);
  return response.json();
}

/** Polls `read` until `done` holds of its result (5 s at most). */
async function eventually(read, done, what) {
  let last;
  for (let i = 0; i < 50; i++) {
    last = await read();
    if (done(last)) return last;
    await sleep(100);
  }
  throw new Error(`${what}; last seen: ${JSON.stringify(last)}`);
}

const summary = () => api('/api/v1/deflection/summary', ANALYST);
const experiment = () => api('/api/v1/deflection/experiment', ANALYST);

let browser;

/** A fresh visitor on the demo form; page errors and CSP refusals fail. */
async function visitor(options = {}) {
  const context = await browser.newContext({ userAgent: USER_AGENT, ...options.context });
  if (options.ids) {
    // The intent's arm is fixed by the server's hash of its id: hand the
    // widget ids whose arm is known.
    await context.addInitScript((ids) => {
      let next = 0;
      const random = crypto.randomUUID.bind(crypto);
      crypto.randomUUID = () => (next < ids.length ? ids[next++] : random());
    }, options.ids);
  }
  const page = await context.newPage();
  const problems = [];
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  if (process.env.AGORA_BROWSER_DEBUG) {
    page.on('console', (m) => console.log(`  console ${m.type()}: ${m.text()}`));
    page.on('requestfailed', (r) => console.log(`  failed: ${r.url()} ${r.failure()?.errorText}`));
    page.on('response', (r) => console.log(`  ${r.status()} ${r.url()}`));
  }
  page.on('console', (m) => {
    if (m.type() === 'error' && !options.allowFailedRequests) problems.push(`console: ${m.text()}`);
  });
  if (options.route) await options.route(page);
  await page.goto(options.url || `${BASE}/widget/demo`);
  const done = async () => {
    await context.close();
    check(problems.length === 0, problems.join('\n'));
  };
  return { context, page, done };
}

async function typeQuestion(page, text) {
  await page.locator('#message').click();
  await page.keyboard.type(text, { delay: 15 });
}

async function linkTexts(page) {
  return page.locator(LINKS).allTextContents();
}

const scenarios = {
  async 'typing shows suggestions within a second'() {
    const { page, done } = await visitor();
    await typeQuestion(page, 'When is the green bin collected');
    const typed = Date.now();
    await page.locator(LINKS).first().waitFor({ timeout: 1000 });
    const elapsed = Date.now() - typed;
    check(elapsed < 1000, `suggestions after ${elapsed} ms`);
    check((await linkTexts(page)).some((t) => t.includes('green bin')), 'the green bin question is suggested');
    const status = await page.locator('[role=status]').textContent();
    check(/similar questions found/.test(status), `the live region says: ${status}`);
    if (SCREENSHOT) await page.screenshot({ path: SCREENSHOT, fullPage: true });
    await done();
  },

  async 'clicking a suggestion and confirming is one confirmed deflection'() {
    const before = (await summary()).confirmed.count;
    const { context, page, done } = await visitor();
    await typeQuestion(page, 'how do I get a parking permit');
    const link = page.locator(LINKS).first();
    await link.waitFor({ timeout: 2000 });
    const [question] = await Promise.all([context.waitForEvent('page'), link.click()]);
    await question.locator('#title').filter({ hasText: 'parking permit' }).waitFor({ timeout: 3000 });
    await question.close();
    await page.getByRole('button', { name: 'This answered my question' }).click();
    const thanks = page.locator('.agora-widget__status--done');
    await thanks.waitFor();
    check(await thanks.evaluate((el) => el === document.activeElement), 'focus moves to the thanks');
    await eventually(summary, (s) => s.confirmed.count === before + 1, 'one more confirmed deflection');
    await done();
  },

  async 'submitting the form instead counts as a contact'() {
    const before = (await summary()).visitors.submitted_contact;
    const { page, done } = await visitor();
    await typeQuestion(page, 'a pothole on my street needs repairing');
    await page.locator(LINKS).first().waitFor({ timeout: 2000 });
    await Promise.all([page.waitForURL(/sent=1/), page.getByRole('button', { name: 'Send message' }).click()]);
    await page.locator('#sent').waitFor();
    await eventually(summary, (s) => s.visitors.submitted_contact === before + 1, 'one more contact');
    await done();
  },

  async 'the whole flow works by keyboard alone, with visible focus'() {
    const before = (await summary()).confirmed.count;
    const { context, page, done } = await visitor();
    for (let i = 0; i < 10 && (await page.evaluate(() => document.activeElement.id)) !== 'message'; i++) {
      await page.keyboard.press('Tab');
    }
    check((await page.evaluate(() => document.activeElement.id)) === 'message', 'Tab reaches the message');
    await page.keyboard.type('green bin collection day', { delay: 15 });
    await page.locator(LINKS).first().waitFor({ timeout: 2000 });
    await page.keyboard.press('Tab');
    const focused = () =>
      page.evaluate(() => {
        const el = document.activeElement;
        const style = getComputedStyle(el);
        return { cls: el.className, outline: style.outlineStyle, width: parseFloat(style.outlineWidth) };
      });
    const onLink = await focused();
    check(onLink.cls.includes('agora-widget__link'), `Tab from the message reaches a suggestion: ${onLink.cls}`);
    check(onLink.outline !== 'none' && onLink.width >= 2, `focus is visible: ${JSON.stringify(onLink)}`);
    const [question] = await Promise.all([context.waitForEvent('page'), page.keyboard.press('Enter')]);
    await question.close();
    await page.bringToFront();
    for (let i = 0; i < 10 && !(await focused()).cls.includes('agora-widget__resolved'); i++) {
      await page.keyboard.press('Tab');
    }
    const onButton = await focused();
    check(onButton.cls.includes('agora-widget__resolved'), 'Tab reaches "This answered my question"');
    check(onButton.outline !== 'none' && onButton.width >= 2, 'the button shows its focus');
    await page.keyboard.press('Enter');
    await page.locator('.agora-widget__status--done').waitFor();
    await eventually(summary, (s) => s.confirmed.count === before + 1, 'one more confirmed deflection');
    await done();
  },

  async 'axe-core finds no serious or critical violation'() {
    // axe is injected as an inline script, which the page's CSP refuses.
    const { page, done } = await visitor({ context: { bypassCSP: true } });
    const audit = async (where) => {
      await page.addScriptTag({ content: AXE });
      const result = await page.evaluate(() => window.axe.run(document, { resultTypes: ['violations'] }));
      const bad = result.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
      check(bad.length === 0, `${where}: ${bad.map((v) => `${v.id} (${v.impact}): ${v.help}`).join('; ')}`);
    };
    await audit('the empty form');
    await typeQuestion(page, 'When is the green bin collected');
    await page.locator(LINKS).first().waitFor({ timeout: 2000 });
    await audit('the form with suggestions');
    await page.getByRole('button', { name: 'This answered my question' }).click();
    await audit('the form after confirming');
    const ids = await page.locator(LINKS).count();
    check(ids === 0, 'the suggestions are gone after confirming');
    await page.goto(`${BASE}/questions/1`);
    await page.locator('#title').filter({ hasNotText: 'Loading' }).waitFor();
    await audit('the question page');
    await done();
  },

  async 'with the server down the form still submits'() {
    const { page, done } = await visitor({
      allowFailedRequests: true,
      route: (p) => p.route(`${BASE}/api/v1/**`, (r) => r.abort('connectionrefused')),
    });
    await typeQuestion(page, 'When is the green bin collected');
    await sleep(800);
    check((await page.locator(LINKS).count()) === 0, 'no suggestions without a server');
    await Promise.all([page.waitForURL(/sent=1/), page.getByRole('button', { name: 'Send message' }).click()]);
    await page.locator('#sent').waitFor();
    await done();
  },

  async 'a slow answer never replaces a newer one'() {
    const { page, done } = await visitor({
      route: (p) =>
        p.route(`${BASE}/api/v1/questions/similar**`, async (r) => {
          if (decodeURIComponent(r.request().url()).includes('parking')) await sleep(1500);
          await r.continue();
        }),
    });
    await typeQuestion(page, 'residents parking permit please');
    await sleep(600);
    await page.locator('#message').fill('green bin collection day');
    await page.locator(LINKS).filter({ hasText: 'green bin' }).first().waitFor({ timeout: 1500 });
    await sleep(1800);
    const texts = await linkTexts(page);
    check(texts.length > 0 && !texts.some((t) => t.includes('parking')), `stale suggestions shown: ${texts}`);
    await done();
  },

  async 'hostile question titles are shown as text'() {
    const { context, page, done } = await visitor();
    await typeQuestion(page, 'the street light outside is flickering all night');
    const hostile = page.locator(LINKS).filter({ hasText: '<img src=x' });
    await hostile.first().waitFor({ timeout: 2000 });
    check((await page.locator('.agora-widget img, .agora-widget b').count()) === 0, 'the title became markup');
    const [question] = await Promise.all([context.waitForEvent('page'), hostile.first().click()]);
    await question.locator('#title').filter({ hasText: '<b>flickering</b>' }).waitFor({ timeout: 3000 });
    check((await question.locator('main img, main b').count()) === 0, 'the question page made markup');
    for (const p of [page, question]) {
      check((await p.evaluate(() => window.__agoraXss)) === undefined, 'a hostile title ran script');
    }
    await done();
  },

  async 'a council site on another origin embeds the widget'() {
    const before = (await summary()).visitors.submitted_contact;
    const council = `<!doctype html><html lang="en"><head><title>Council</title>
      <link rel="stylesheet" href="${BASE}/widget.css">
      <script src="${BASE}/widget.js" data-agora-textarea="#msg" data-agora-form="#f"
        data-agora-heading="Vielleicht hilft das" data-agora-resolved="Das hat meine Frage beantwortet" defer></script>
      </head><body><main><form id="f" action="${COUNCIL}/thanks" method="post">
      <label for="msg">Nachricht</label><textarea id="msg" name="msg"></textarea>
      <button type="submit">Senden</button></form></main></body></html>`;
    // The council's own site, on its own origin.
    const site = createServer((req, res) => {
      res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' });
      res.end(req.url.startsWith('/thanks') ? 'Danke' : council);
    });
    await new Promise((resolve) => site.listen(Number(new URL(COUNCIL).port), '127.0.0.1', resolve));
    try {
      const { page, done } = await visitor({ url: `${COUNCIL}/contact` });
      await page.locator('#msg').click();
      await page.keyboard.type('When is the green bin collected', { delay: 15 });
      await page.locator(LINKS).first().waitFor({ timeout: 2000 });
      const heading = await page.locator('.agora-widget__heading').textContent();
      check(heading === 'Vielleicht hilft das', `the council's wording: ${heading}`);
      await page.getByRole('button', { name: 'Das hat meine Frage beantwortet' }).waitFor();
      await Promise.all([page.waitForURL(/thanks/), page.getByRole('button', { name: 'Senden' }).click()]);
      await eventually(summary, (s) => s.visitors.submitted_contact === before + 1, 'the contact crossed origins');
      await done();
    } finally {
      site.close();
    }
  },

  // Last: it turns the hold-out on.
  async 'a hold-out visitor sees no suggestions and is counted in the experiment'() {
    const settings = await api('/api/v1/admin/settings', ADMIN);
    settings.deflection.holdout_percent = 50;
    await api('/api/v1/admin/settings', ADMIN, { method: 'PUT', body: JSON.stringify(settings) });
    const ids = [];
    while (ids.length < 30) {
      const id = crypto.randomUUID();
      const body = await api(`/api/v1/questions/similar?text=bins&intent_id=${id}`, ADMIN);
      if (body.arm === 'holdout') ids.push(id);
    }
    const arm = (e) => e.arms.find((a) => a.arm === 'holdout');
    const before = arm(await experiment());
    const { page, done } = await visitor({ ids });
    const answered = page.waitForResponse((r) => r.url().includes('/questions/similar'));
    await typeQuestion(page, 'When is the green bin collected');
    const body = await (await answered).json();
    check(body.arm === 'holdout' && body.items.length === 0, `the server put the intent in ${body.arm}`);
    await sleep(500);
    check((await page.locator(LINKS).count()) === 0, 'a hold-out visitor sees suggestions');
    check(await page.locator('.agora-widget').isHidden(), 'the widget stays hidden');
    await Promise.all([page.waitForURL(/sent=1/), page.getByRole('button', { name: 'Send message' }).click()]);
    await eventually(
      experiment,
      (e) => arm(e).intents === before.intents + 1 && arm(e).submitted === before.submitted + 1,
      'the hold-out intent and its submission are counted',
    );
    await done();
  },
};

browser = await chromium.launch({ executablePath: process.env.AGORA_CHROMIUM, args: ['--no-sandbox'] });
let failed = 0;
for (const [name, run] of Object.entries(scenarios)) {
  const started = Date.now();
  try {
    await run();
    console.log(`ok   ${name} (${Date.now() - started} ms)`);
  } catch (e) {
    failed++;
    console.log(`FAIL ${name}: ${e.stack || e}`);
  }
}
await browser.close();
console.log(`${Object.keys(scenarios).length - failed} scenarios passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
