// The README's screenshots of the login page (the demo's branding: logo,
// footer links): light and dark at 900x720, and a phone (390x844 CSS px at
// 2x), into docs/images/. Run through `scripts/a11y.sh screenshots`.

import { mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { launchChromium, startDemo } from './lib.mjs';

const out = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'docs', 'images');
mkdirSync(out, { recursive: true });
const bin = process.env.A11Y_BRIDGE_BIN || '../../target/debug/idp-bridge';

const shots = [
  { file: 'login-light.png', scheme: 'light', viewport: { width: 900, height: 720 }, scale: 1 },
  { file: 'login-dark.png', scheme: 'dark', viewport: { width: 900, height: 720 }, scale: 1 },
  { file: 'login-mobile.png', scheme: 'light', viewport: { width: 390, height: 844 }, scale: 2 },
];

const demo = await startDemo(bin);
const chromium = await launchChromium().catch(async (e) => { await demo.stop(); throw e; });
try {
  for (const shot of shots) {
    const context = await chromium.browser.newContext({
      viewport: shot.viewport, deviceScaleFactor: shot.scale, colorScheme: shot.scheme,
      isMobile: shot.scale > 1, hasTouch: shot.scale > 1,
    });
    const page = await context.newPage();
    await page.goto(`${demo.rp}/login`);
    await page.waitForSelector('#username');
    await page.evaluate(() => document.activeElement?.blur());
    await page.waitForFunction(() => [...document.images].every((i) => i.complete && i.naturalWidth > 0));
    await page.screenshot({ path: join(out, shot.file) });
    console.log(`wrote docs/images/${shot.file}`);
    await context.close();
  }
} finally {
  await chromium.close();
  await demo.stop();
}
