// Shared by check.mjs and screenshots.mjs: starting `idp-bridge demo` and
// Debian's Chromium, and walking to each page the bridge shows people.

import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chromium } from 'playwright-core';

export const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';

/** Starts `idp-bridge demo`; resolves to { rp, issuer, stop }. */
export async function startDemo(bin) {
  if (!bin || !existsSync(bin)) {
    throw new Error(`the idp-bridge binary is missing (${bin}); build it with \`cargo build\` or set A11Y_BRIDGE_BIN`);
  }
  const child = spawn(bin, ['demo', '--listen', '127.0.0.1:0'], {
    stdio: ['ignore', 'pipe', 'pipe'],
    // IDP_BRIDGE_* variables would override the demo's configuration.
    env: {
      ...Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('IDP_BRIDGE_'))),
      IDP_BRIDGE_LOG: 'warn',
    },
  });
  let out = '';
  let err = '';
  child.stderr.on('data', (d) => { err += d; });
  const found = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the demo did not start in 30 s:\n${out}\n${err}`)), 30_000);
    child.on('exit', (code) => { clearTimeout(timer); reject(new Error(`the demo exited (${code}):\n${out}\n${err}`)); });
    child.stdout.on('data', (d) => {
      out += d;
      const rp = out.match(/Open (http:\/\/\S+) and click/);
      const issuer = out.match(/bridge \(issuer\): (http:\/\/\S+)/);
      if (rp && issuer) { clearTimeout(timer); resolve({ rp: rp[1], issuer: issuer[1] }); }
    });
  });
  child.removeAllListeners('exit');
  const stop = () => new Promise((resolve) => {
    if (child.exitCode !== null) return resolve();
    child.on('exit', () => resolve());
    child.kill('SIGTERM');
  });
  return { ...found, stop, stderr: () => err };
}

/** Launches Debian's Chromium headless; Playwright gives it a new, empty
 *  user-data-dir of its own, removed at close. */
export async function launchChromium() {
  if (!existsSync(CHROMIUM)) {
    throw new Error(`Chromium is missing at ${CHROMIUM}: apt-get install chromium (scripts/a11y.sh does)`);
  }
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--no-sandbox', '--disable-gpu', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', '--no-first-run',
    ],
  });
  return { browser, close: () => browser.close() };
}

/** An authorization request of the demo's client with `response_mode`. */
export function authorizeUrl(demo, extra = {}) {
  const verifier = randomBytes(32).toString('base64url');
  const challenge = createHash('sha256').update(verifier).digest('base64url');
  const params = new URLSearchParams({
    response_type: 'code',
    client_id: 'demo-rp',
    redirect_uri: `${demo.rp}/callback`,
    scope: 'openid profile',
    state: randomBytes(8).toString('hex'),
    nonce: randomBytes(8).toString('hex'),
    code_challenge: challenge,
    code_challenge_method: 'S256',
    ...extra,
  });
  return `${demo.issuer}/authorize?${params}`;
}
