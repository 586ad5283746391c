// Debian's Chromium through playwright-core (never `npx playwright install`).
import { chromium } from 'playwright-core';

export const CHROMIUM_FLAGS = [
  '--headless=new',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-dev-shm-usage',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
];

export function launch() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
    headless: true,
    args: CHROMIUM_FLAGS,
  });
}

/** Opens `path` of the static server and waits for the harness. */
export async function openPage(context, base, path) {
  const page = await context.newPage();
  page.on('pageerror', (e) => console.error(`[page error] ${e.message}`));
  page.on('console', (m) => {
    if (m.type() === 'error' || process.env.ESDB_DEBUG) console.error(`[console.${m.type()}] ${m.text()}`);
  });
  await page.goto(`${base}${path}`);
  await page.waitForFunction(() => document.body.dataset.ready === 'true' || 'readme' in window, null, { timeout: 30_000 });
  return page;
}

/**
 * A persistent context (a real profile in `userDataDir`): its pages share
 * one origin's OPFS on disk, Web Locks and BroadcastChannel, like the tabs
 * of one browser window. (The default context keeps OPFS in memory.) The
 * back/forward cache is on, as in a user's browser.
 */
export function launchPersistent(userDataDir) {
  return chromium.launchPersistentContext(userDataDir, {
    executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
    headless: true,
    // Playwright turns the back/forward cache off by default; tabs must survive it.
    ignoreDefaultArgs: ['--disable-back-forward-cache'],
    args: CHROMIUM_FLAGS,
  });
}
