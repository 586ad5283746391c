// Starts what the end-to-end suite runs against, each process tracked by PID:
// the reference sync server (throwaway SQLite, free port, --demo-rules) and
// the demo app (vite build into a temp dir + vite preview on a free port,
// built with VITE_SYNC_URL pointing at that server). Set E2E_APP_URL to test
// an app that is already running instead (e.g. `make demo`'s).
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

export const ROOT = new URL('../../', import.meta.url).pathname;
const APP_DIR = join(ROOT, 'examples/todo-react');
const SERVER_BIN =
  process.env.ESDB_SYNC_SERVER_BIN ?? join(ROOT, 'target/debug/eventsourced-sync-server');
export const SCREENSHOTS = process.env.E2E_SCREENSHOTS ?? join(ROOT, 'target/e2e-screenshots');

// TOOLCHAIN.md: Debian's Chromium, never a downloaded one.
const CHROMIUM_FLAGS = [
  '--headless=new',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-dev-shm-usage',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
];

function freePort() {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

async function waitForHttp(url, child, log, what) {
  for (let i = 0; i < 300; i++) {
    try {
      if ((await fetch(url)).ok) return;
    } catch {}
    if (child.exitCode !== null) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${what} did not start:\n${log()}`);
}

// Last resort if the run dies without its cleanup: kill what is still running, by PID.
const running = new Set();
process.once('exit', () => {
  for (const child of running) {
    try {
      process.kill(child.pid, 'SIGKILL');
    } catch {}
  }
});

/** A child process whose output is kept for error messages. */
function start(cmd, args, options) {
  const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], ...options });
  running.add(child);
  child.once('exit', () => running.delete(child));
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (out += d));
  const exited = new Promise((resolve) => child.once('exit', resolve));
  return { child, log: () => out, exited };
}

function run(cmd, args, options) {
  const p = start(cmd, args, options);
  return p.exited.then((code) => {
    if (code !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${code}):\n${p.log()}`);
  });
}

/**
 * Starts the server, the app and Chromium. Resolves to `{ appUrl, syncUrl,
 * browser, stop }`; `stop()` kills every process this started, by PID.
 */
export async function startAll() {
  const started = [];
  const temp = [];
  const stop = async () => {
    for (const p of started.reverse()) {
      if (p.child.exitCode === null && p.child.signalCode === null) {
        try {
          process.kill(p.child.pid, 'SIGTERM');
        } catch {}
        await Promise.race([p.exited, new Promise((r) => setTimeout(r, 3000))]);
        if (p.child.exitCode === null && p.child.signalCode === null) process.kill(p.child.pid, 'SIGKILL');
      }
    }
    for (const dir of temp) rmSync(dir, { recursive: true, force: true });
  };
  try {
    let appUrl = process.env.E2E_APP_URL;
    let syncUrl = process.env.E2E_SYNC_URL ?? 'http://127.0.0.1:8787/api/events';
    if (!appUrl) {
      const dataDir = mkdtempSync(join(tmpdir(), 'esdb-e2e-server-'));
      temp.push(dataDir);
      const serverPort = await freePort();
      const server = start(SERVER_BIN, [
        '--listen', `127.0.0.1:${serverPort}`,
        '--database', `sqlite:${join(dataDir, 'server.sqlite')}`,
        '--demo-rules',
        '--heartbeat-secs', '2',
      ]);
      started.push(server);
      await waitForHttp(`http://127.0.0.1:${serverPort}/healthz`, server.child, server.log, 'the sync server');
      syncUrl = `http://127.0.0.1:${serverPort}/api/events`;

      const outDir = mkdtempSync(join(tmpdir(), 'esdb-e2e-app-'));
      temp.push(outDir);
      const vite = join(APP_DIR, 'node_modules/.bin/vite');
      // The sync URL is a build-time setting of the app.
      await run(vite, ['build', '--outDir', outDir, '--emptyOutDir', '--logLevel', 'warn'], {
        cwd: APP_DIR,
        env: { ...process.env, VITE_SYNC_URL: syncUrl },
      });
      const appPort = await freePort();
      const preview = start(vite, ['preview', '--outDir', outDir, '--host', '127.0.0.1', '--port', String(appPort), '--strictPort'], {
        cwd: APP_DIR,
      });
      started.push(preview);
      appUrl = `http://127.0.0.1:${appPort}/`;
      await waitForHttp(appUrl, preview.child, preview.log, 'vite preview');
    }

    const browser = await chromium.launch({
      executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
      headless: true,
      args: CHROMIUM_FLAGS,
    });
    // Chromium is a child of this process too: close it first.
    const stopAll = async () => {
      await browser.close().catch(() => undefined);
      await stop();
    };
    // Only this run's screenshots in the folder.
    rmSync(SCREENSHOTS, { recursive: true, force: true });
    mkdirSync(SCREENSHOTS, { recursive: true });
    return { appUrl, syncUrl, browser, stop: stopAll };
  } catch (e) {
    await stop();
    throw e;
  }
}

/** Opens the app in a fresh page of `context` and waits until the database is open. */
export async function openApp(context, appUrl, label) {
  const page = await context.newPage();
  page.on('pageerror', (e) => console.error(`[${label} page error] ${e.message}`));
  page.on('console', (m) => {
    if (m.type() === 'error' || process.env.E2E_DEBUG) console.error(`[${label} console.${m.type()}] ${m.text()}`);
  });
  await page.goto(appUrl);
  await ready(page);
  return page;
}

export async function ready(page) {
  await page.getByTestId('sync-badge').waitFor({ timeout: 30_000 });
}

/** Polls `probe` until it returns a truthy value; fails with `what` after `timeout` ms. */
export async function eventually(what, probe, timeout = 15_000) {
  const deadline = Date.now() + timeout;
  let last;
  for (;;) {
    try {
      last = await probe();
      if (last) return last;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for: ${what} (last: ${last instanceof Error ? last.message : JSON.stringify(last)})`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

export async function screenshot(page, name) {
  await page.screenshot({ path: join(SCREENSHOTS, `${name}.png`), fullPage: true });
}
