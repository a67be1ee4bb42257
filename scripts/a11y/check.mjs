// WCAG 2.2 AA check of every page the bridge shows people, judged by
// axe-core in Debian's Chromium, in the light and the dark colour scheme:
// the login page (English and German), the failed-login state, the error
// page, the logout confirmation and its result, and the form_post page.
// Besides axe (tags wcag2a, wcag2aa, wcag21a, wcag21aa, wcag22aa) it checks
// what axe does not: control contrast (input borders, the focus ring:
// WCAG 1.4.11, >= 3:1), aria-invalid/aria-describedby after a wrong
// password, the keyboard order and visible focus, reflow at 640 and 320
// CSS px (200 % and 400 % zoom of 1280 px), no CSP refusal and no failed
// subresource. Exits non-zero on any failure, printing each.
//
// Usage: A11Y_BRIDGE_BIN=target/debug/idp-bridge node check.mjs

import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { authorizeUrl, launchChromium, startDemo } from './lib.mjs';

const require = createRequire(import.meta.url);
const AXE = readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');
const TAGS = ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa'];
const bin = process.env.A11Y_BRIDGE_BIN || '../../target/debug/idp-bridge';

const failures = [];
const figures = [];
let axeRuns = 0;
let axePasses = 0;
const fail = (where, what) => failures.push(`${where}: ${what}`);

/** Runs axe on the page as it is; every violation is a failure. */
async function axe(page, where) {
  // Runtime.evaluate is not subject to the page's CSP (which allows no script).
  await page.evaluate(AXE);
  const result = await page.evaluate(
    (tags) => window.axe.run(document, { runOnly: { type: 'tag', values: tags }, resultTypes: ['violations'] }),
    TAGS,
  );
  axeRuns += 1;
  axePasses += result.passes.length;
  for (const v of result.violations) {
    for (const node of v.nodes) {
      fail(where, `axe ${v.id} (${v.impact}): ${v.help} — ${node.target.join(' ')}: ${node.failureSummary.replace(/\s+/g, ' ')}`);
    }
  }
  for (const v of result.incomplete.filter((i) => i.id === 'color-contrast')) {
    for (const node of v.nodes) {
      fail(where, `axe could not decide color-contrast for ${node.target.join(' ')}`);
    }
  }
}

/** The contrast of two computed colours; a translucent
 *  foreground is first composited over the (opaque) background. */
function contrastOf(fg, bg) {
  const parse = (text) => {
    const srgb = text.startsWith('color(srgb');
    const n = text.match(/[\d.]+/g).map(Number);
    const [r, g, b] = srgb ? n.slice(0, 3).map((v) => v * 255) : n.slice(0, 3);
    const a = n.length > 3 ? n[3] : 1;
    return [r, g, b, a];
  };
  const lum = (c) => c.slice(0, 3).map((v) => {
    const s = v / 255;
    return s <= 0.04045 ? s / 12.92 : ((s + 0.055) / 1.055) ** 2.4;
  }).reduce((sum, v, i) => sum + v * [0.2126, 0.7152, 0.0722][i], 0);
  const back = parse(bg);
  const front = parse(fg);
  const shown = front.slice(0, 3).map((v, i) => v * front[3] + back[i] * (1 - front[3]));
  const [x, y] = [lum(shown), lum(back)].sort((p, q) => q - p);
  return Math.round(((x + 0.05) / (y + 0.05)) * 100) / 100;
}

/** In the page: input borders against the page and the field, and the
 *  button's text against the button: the computed colours. */
function measure() {
  const css = (el) => getComputedStyle(el);
  const page = css(document.body).backgroundColor;
  const out = {};
  for (const id of ['username', 'password']) {
    const input = document.getElementById(id);
    if (!input) continue;
    const s = css(input);
    out[`${id} border vs page`] = [s.borderTopColor, page];
    out[`${id} border vs field`] = [s.borderTopColor, s.backgroundColor];
  }
  const button = document.querySelector('button');
  if (button && button.offsetParent) {
    const s = css(button);
    out['button text vs button'] = [s.color, s.backgroundColor];
  }
  return out;
}

/** In the page: the focused element's outline. */
function focusRing() {
  const el = document.activeElement;
  const s = getComputedStyle(el);
  return {
    id: el.id || `${el.tagName.toLowerCase()}:${(el.textContent || '').trim().slice(0, 30)}`,
    style: s.outlineStyle,
    width: parseFloat(s.outlineWidth),
    color: s.outlineColor,
    page: getComputedStyle(document.body).backgroundColor,
  };
}

async function controlContrast(page, where) {
  const measured = await page.evaluate(measure);
  for (const [what, [fg, bg]] of Object.entries(measured)) {
    const r = contrastOf(fg, bg);
    figures.push(`${where}: ${what}: ${fg} on ${bg} = ${r}:1`);
    const needed = what.startsWith('button text') ? 4.5 : 3;
    if (!(r >= needed)) fail(where, `${what} contrast ${r}:1 < ${needed}:1`);
  }
}

/** Moves the keyboard's starting point to the top of the page's content
 *  (the login page focuses the username field itself). */
async function fromTheTop(page) {
  await page.evaluate(() => {
    const main = document.querySelector('main');
    main.setAttribute('tabindex', '-1');
    main.focus();
    main.blur();
    main.removeAttribute('tabindex');
    window.scrollTo(0, 0);
  });
}

/** Tab from the top reaches username, password and the button, in order,
 *  each with a visible focus ring of >= 3:1 against the page. */
async function keyboard(page, where, scheme) {
  await fromTheTop(page);
  const order = [];
  for (let i = 0; i < 3; i += 1) {
    await page.keyboard.press('Tab');
    const ring = await page.evaluate(focusRing);
    const r = contrastOf(ring.color, ring.page);
    order.push(ring.id);
    figures.push(`${where}: focus ring on ${ring.id} (${scheme}): ${ring.width}px ${ring.style} ${ring.color} on ${ring.page} = ${r}:1`);
    if (ring.style === 'none' || ring.width < 2) fail(where, `focus on ${ring.id} is not visible (${ring.style} ${ring.width}px)`);
    if (!(r >= 3)) fail(where, `focus ring on ${ring.id}: ${r}:1 < 3:1`);
  }
  const want = ['username', 'password'];
  if (order[0] !== want[0] || order[1] !== want[1] || !order[2].startsWith('button')) {
    fail(where, `Tab order is ${order.join(' → ')}, expected username → password → button`);
  }
}

/** No horizontal scrolling at 640 and 320 CSS px (WCAG 1.4.10). */
async function reflow(page, where) {
  const original = page.viewportSize();
  for (const width of [640, 320]) {
    await page.setViewportSize({ width, height: 720 });
    const { scroll, client } = await page.evaluate(() => ({
      scroll: document.documentElement.scrollWidth, client: document.documentElement.clientWidth,
    }));
    if (scroll > client) fail(where, `horizontal scrolling at ${width} CSS px (content ${scroll} px wide)`);
  }
  await page.setViewportSize(original);
}

async function judge(page, where, scheme, { keys = false } = {}) {
  const label = `${where} [${scheme}]`;
  await axe(page, label);
  await controlContrast(page, label);
  await reflow(page, label);
  if (keys) await keyboard(page, label, scheme);
}

/** Watches a page for CSP refusals and failed subresources. */
function watch(page, scheme) {
  page.on('console', (m) => {
    if (/Content Security Policy|Refused to/i.test(m.text())) fail(`[${scheme}] ${page.url()}`, `console: ${m.text()}`);
  });
  page.on('response', (r) => {
    if (r.request().resourceType() !== 'document' && r.status() >= 400) {
      fail(`[${scheme}] ${page.url()}`, `${r.url()} answered ${r.status()}`);
    }
  });
  page.on('requestfailed', (r) => {
    if (r.resourceType() !== 'document') fail(`[${scheme}] ${page.url()}`, `${r.url()} failed: ${r.failure()?.errorText}`);
  });
}

async function checkScheme(browser, demo, scheme) {
  const context = await browser.newContext({ colorScheme: scheme, viewport: { width: 1280, height: 800 } });
  const page = await context.newPage();
  watch(page, scheme);

  // The login page, as the relying party sends the browser there.
  await page.goto(`${demo.rp}/login`);
  await page.waitForSelector('#username');
  const logo = await page.evaluate(() => {
    const img = document.querySelector('img.logo');
    return img ? img.complete && img.naturalWidth > 0 : null;
  });
  if (logo !== true) fail(`login [${scheme}]`, 'the configured logo did not load');
  await judge(page, 'login', scheme, { keys: true });

  // A wrong password, typed and sent with the keyboard only.
  await fromTheTop(page);
  await page.keyboard.press('Tab');
  await page.keyboard.type('alice');
  await page.keyboard.press('Tab');
  await page.keyboard.type('wrong-password');
  await Promise.all([page.waitForNavigation(), page.keyboard.press('Enter')]);
  const state = await page.evaluate(() => {
    const attr = (id, a) => document.getElementById(id)?.getAttribute(a);
    const alert = document.getElementById('form-error');
    return {
      invalid: [attr('username', 'aria-invalid'), attr('password', 'aria-invalid')],
      describedby: [attr('username', 'aria-describedby'), attr('password', 'aria-describedby')],
      alert: alert && (alert.getAttribute('role') === 'alert' || alert.getAttribute('aria-live')) ? alert.textContent.trim() : null,
    };
  });
  if (state.invalid.some((v) => v !== 'true')) fail(`failed login [${scheme}]`, `aria-invalid is ${state.invalid}`);
  if (state.describedby.some((v) => v !== 'form-error')) fail(`failed login [${scheme}]`, `aria-describedby is ${state.describedby}`);
  if (!state.alert) fail(`failed login [${scheme}]`, 'no announced error message (role="alert")');
  await judge(page, 'failed login', scheme, { keys: true });

  // The German page: the configured German texts.
  const de = await context.newPage();
  watch(de, scheme);
  await de.goto(authorizeUrl(demo, { ui_locales: 'de' }));
  const german = await de.evaluate(() => ({ lang: document.documentElement.lang, links: [...document.querySelectorAll('footer a')].map((a) => a.textContent) }));
  if (german.lang !== 'de' || !german.links.includes('Hilfe')) fail(`login de [${scheme}]`, `not German: ${JSON.stringify(german)}`);
  await judge(de, 'login (de)', scheme);
  await de.close();

  // The error page: an authorization request without a client.
  await page.goto(`${demo.issuer}/authorize`);
  await judge(page, 'error', scheme);

  // The logout confirmation, and what it says after.
  await page.goto(`${demo.issuer}/logout`);
  await judge(page, 'logout', scheme);
  await Promise.all([page.waitForNavigation(), page.click('button')]);
  await judge(page, 'signed out', scheme);

  // form_post: the page that posts the code to the relying party. The
  // relying party's answer is held back (204 keeps the page), so axe sees it.
  await page.route(`${demo.rp}/callback`, (route) => route.fulfill({ status: 204, body: '' }));
  await page.goto(authorizeUrl(demo, { response_mode: 'form_post' }));
  await page.fill('#username', 'alice');
  await page.fill('#password', 'correct-horse');
  // The page posts itself while it loads: wait for that post, then for the
  // page that stays.
  await Promise.all([page.waitForRequest(`${demo.rp}/callback`), page.click('button')]);
  await page.waitForSelector('input[name="code"]', { state: 'attached' });
  await page.waitForFunction(() => document.readyState !== 'loading');
  if (!(await page.content()).includes('name="code"')) fail(`form_post [${scheme}]`, 'not the form_post page');
  await judge(page, 'form_post', scheme);
  await context.close();
}

const demo = await startDemo(bin);
const chromium = await launchChromium().catch(async (e) => { await demo.stop(); throw e; });
try {
  for (const scheme of ['light', 'dark']) {
    await checkScheme(chromium.browser, demo, scheme);
  }
} catch (e) {
  fail('run', e.stack || String(e));
} finally {
  await chromium.close();
  await demo.stop();
}

console.log('Measured contrast:');
for (const f of figures) console.log(`  ${f}`);
console.log(`axe-core ${JSON.parse(readFileSync(require.resolve('axe-core/package.json'), 'utf8')).version}, tags ${TAGS.join(' ')}: ${axeRuns} page states, ${axePasses} rule passes`);
if (failures.length) {
  console.log(`${failures.length} problem(s):`);
  for (const f of failures) console.log(`  - ${f}`);
  process.exit(1);
}
console.log('a11y: no violations');
