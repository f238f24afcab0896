// Launches Debian's headless Chromium through playwright-core, the same way for the tests,
// the screenshots and the timing. The flags keep Chromium from reaching for the network
// (component updates, sync, QUIC probes), which on a closed network only adds refused
// connections, and a fresh profile keeps runs independent.
import {chromium} from 'playwright-core';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export const executablePath = process.env.HEED_CHROMIUM || '/usr/bin/chromium';

export async function launch() {
  // A fresh --user-data-dir: playwright takes it as launchPersistentContext's first argument.
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'heed-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath,
    headless: true,
    viewport: {width: 1280, height: 900},
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
           '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  const close = context.close.bind(context);
  context.close = async () => { await close(); fs.rmSync(profile, {recursive: true, force: true}); };
  return context;
}

// Opens a page file and records every request other than the file itself and data: URLs,
// and every console error or uncaught exception.
export async function open(context, file) {
  const page = await context.newPage();
  const url = 'file://' + path.resolve(file);
  const requests = [], errors = [];
  page.on('request', r => { if (r.url() !== url && !r.url().startsWith('data:')) requests.push(r.url()); });
  page.on('console', m => { if (m.type() === 'error') errors.push(m.text()); });
  page.on('pageerror', e => errors.push(String(e)));
  await page.goto(url);
  await page.waitForSelector('body[data-ready]');
  return {page, requests, errors};
}
