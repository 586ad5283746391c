// The built package's worker in real headless Chromium: opens a database on
// OPFS through `CoreClient` (main thread → worker.js → wasm → OPFS), checks
// that rows survive a close and reopen, and measures end-to-end capture:
// one mutation awaited at a time (p50/p99) and 10k separate `capture` calls
// issued at once (coalesced by the client and the worker host).
// Usage: node tests/wasm/browser/worker.mjs  (after `make package`)
import http from 'node:http';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { extname } from 'node:path';
import { chromium } from 'playwright-core';

const PKG = new URL('../../../pkg/', import.meta.url);
const TYPES = { '.js': 'text/javascript', '.wasm': 'application/wasm', '.html': 'text/html' };
const PAGE = '<!doctype html><meta charset="utf-8"><title>worker test</title>';

const server = http.createServer(async (req, res) => {
  // Cross-origin isolation: performance.now() gets 5 µs resolution, not 100 µs.
  const headers = { 'Cross-Origin-Opener-Policy': 'same-origin', 'Cross-Origin-Embedder-Policy': 'require-corp' };
  const path = new URL(req.url, 'http://x').pathname;
  if (path === '/') return res.writeHead(200, { ...headers, 'Content-Type': 'text/html' }).end(PAGE);
  if (path === '/favicon.ico') return res.writeHead(204).end();
  if (!path.startsWith('/pkg/') || path.includes('..')) return res.writeHead(404).end();
  try {
    const body = await readFile(new URL(path.slice('/pkg/'.length), PKG));
    res.writeHead(200, { ...headers, 'Content-Type': TYPES[extname(path)] ?? 'application/octet-stream' }).end(body);
  } catch {
    res.writeHead(404).end();
  }
});
await new Promise((r) => server.listen(0, '127.0.0.1', r));
const origin = `http://127.0.0.1:${server.address().port}`;

// A persistent profile, as users have: a default (incognito) context keeps
// OPFS in memory behind a cross-process call per read/write, about 5x slower
// per commit than real files.
const profile = await mkdtemp(join(tmpdir(), 'esdb-chromium-'));
const browser = await chromium.launchPersistentContext(profile, {
  executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
  args: ['--headless=new', '--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--disable-background-networking',
    '--disable-component-update', '--disable-sync', '--no-first-run'],
});
let failed = false;
try {
  const page = await browser.newPage();
  page.on('console', (m) => m.type() === 'error' && console.error('page:', m.text()));
  page.on('pageerror', (e) => console.error('page error:', e));
  await page.goto(origin + '/');
  const r = await page.evaluate(async () => {
    const { CoreClient } = await import('/pkg/client.js');
    const name = `worker-test-${Date.now()}`;
    const insert = (i) => ({ collection: 'todos', type: 'insert', key: `todo-${i}`,
      modified: { id: `todo-${i}`, title: `Buy milk #${i}`, done: false, createdAt: 1714490000000 + i, tags: ['home', 'errand'] } });
    const t0 = performance.now();
    let db = await CoreClient.open(name);
    const openMs = performance.now() - t0;
    const storage = db.info.storage;
    const lat = [];
    for (let i = 0; i < 1200; i++) {
      const t = performance.now();
      await db.capture([insert(i)]);
      if (i >= 200) lat.push(performance.now() - t);
    }
    lat.sort((a, b) => a - b);
    const N = 10000;
    const t1 = performance.now();
    const results = await Promise.all(Array.from({ length: N }, (_, i) => db.capture([insert(100000 + i)])));
    const burstMs = performance.now() - t1;
    const ownResults = results.every((c, i) => c.length === 1 && c[0].key === `todo-${100000 + i}`);
    await db.close();
    db = await CoreClient.open(name);
    const rows = (await db.visibleRows('todos')).length;
    const counts = await db.counts();
    await db.close();
    let storageError = null;
    try {
      await CoreClient.open(`${name}-x`, { mode: 'in-process' });
    } catch (e) {
      storageError = `${e.name} ${e.code}`;
    }
    return { storage, openMs, p50: lat[Math.floor(lat.length * 0.5)], p99: lat[Math.floor(lat.length * 0.99)],
      burstMs, ownResults, rows, counts, isolated: self.crossOriginIsolated, storageError };
  });
  const expected = 1200 + 10000;
  const check = (ok, what) => {
    console.log(`${ok ? 'ok' : 'not ok'} - ${what}`);
    if (!ok) failed = true;
  };
  check(r.storage === 'opfs', `the worker opened the database on OPFS (${r.storage})`);
  check(r.rows === expected && r.counts.total === expected, `all ${expected} rows and events survive close and reopen (${r.rows}, ${r.counts.total})`);
  check(r.ownResults, 'each of 10k coalesced captures got its own result');
  check(r.storageError === 'EventSourcedError STORAGE_UNAVAILABLE', `OPFS outside a worker is a typed error (${r.storageError})`);
  console.log(`bench-browser: end to end through the worker (main thread -> worker -> OPFS -> back), cross-origin isolated: ${r.isolated}`);
  console.log(`bench-browser:   open ${r.openMs.toFixed(1)} ms; capture of 1 mutation awaited: p50 ${r.p50.toFixed(3)} ms  p99 ${r.p99.toFixed(3)} ms`);
  console.log(`bench-browser:   10000 separate capture() calls at once: ${r.burstMs.toFixed(1)} ms = ${Math.round(10000 / (r.burstMs / 1000))} events/s`);
} finally {
  await browser.close();
  server.close();
  await rm(profile, { recursive: true, force: true });
}
console.log(failed ? '0 passed, 1 failed' : '1 passed, 0 failed');
process.exit(failed ? 1 : 0);
