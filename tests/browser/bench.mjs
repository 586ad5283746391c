// Benchmark of the TanStack binding in headless Chromium on OPFS (release
// wasm from pkg/, production TanStack build). Prints:
//   - cold start: createEventSourcedDB until every collection is ready,
//     after a page reload (new worker, wasm, open, hydration), 10k and 100k rows;
//   - 10k remote events pulled from the reference server until a live query shows them.
// Run: make bench-binding  (or: node tests/browser/bench.mjs)
import { randomUUID } from 'node:crypto';
import { bundle } from './build.mjs';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { launchPersistent, openPage } from './chromium.mjs';
import { startStaticServer } from './static-server.mjs';
import { startSyncServer } from '../package/sync-server.mjs';

const RUNS = Number(process.env.BENCH_RUNS ?? 5);
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const fmt = (ms) => `${ms.toFixed(0)} ms`;

await bundle({ production: true });
const web = await startStaticServer();
const server = await startSyncServer({ args: ['--sqlite-sync', 'normal'] });
// Persistent profiles, as users have: a default (incognito) context keeps
// OPFS in memory behind a cross-process call per read and write.
const profiles = [];
const newContext = () => {
  const dir = mkdtempSync(join(tmpdir(), 'esdb-bench-binding-'));
  profiles.push(dir);
  return launchPersistent(dir);
};
const results = [];
const breakdowns = [];
try {
  const path = `/harness.html?server=${encodeURIComponent(server.url)}`;
  for (const [rows, target] of [
    [10_000, 150],
    [100_000, 800],
  ]) {
    const context = await newContext();
    const page = await openPage(context, web.url, path);
    await page.evaluate(async (n) => {
      await harness.open(`cold-${n}`, { autoSync: false });
      await harness.insertMany('r', n);
      await harness.dispose();
    }, rows);
    const times = [];
    for (let i = 0; i < RUNS; i++) {
      await page.reload();
      await page.waitForFunction(() => document.body.dataset.ready === 'true');
      const r = await page.evaluate((n) => harness.open(`cold-${n}`, { autoSync: false }), rows);
      if (r.rows !== rows) throw new Error(`expected ${rows} rows, got ${r.rows}`);
      times.push(r.ms);
      await page.evaluate(() => harness.dispose());
    }
    results.push({ what: `cold start, ${rows / 1000}k rows (OPFS)`, ms: median(times), target, runs: times });
    // Where the time goes: worker + wasm + open, the core's visibleRows (to the main thread), TanStack hydration.
    await page.reload();
    await page.waitForFunction(() => document.body.dataset.ready === 'true');
    const b = await page.evaluate((n) => profile.breakdown(`cold-${n}`), rows);
    breakdowns.push(`  cold start ${rows / 1000}k: open ${fmt(b.open)}, core visibleRows ${fmt(b.visibleRows)}, TanStack hydration ${fmt(b.tanstack)}`);
    await context.close();
  }

  // 10k remote events on the server, from "another device".
  const N = 10_000;
  for (let i = 0; i < N; i += 500) {
    const events = [];
    for (let j = i; j < i + 500; j++) {
      const row = { id: `p${j}`, title: `remote ${j}`, done: false, createdAt: j };
      events.push({ eventId: randomUUID(), collectionId: 'todos', type: 'insert', key: row.id, payload: row, timestamp: Date.now() });
    }
    const r = await fetch(`${server.url}/api/events`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(events) });
    if (!r.ok) throw new Error(`seeding failed: ${r.status}`);
  }
  const times = [];
  for (let i = 0; i < RUNS; i++) {
    const context = await newContext();
    const page = await openPage(context, web.url, path);
    await page.evaluate(() => harness.open('pull', { autoSync: false, pullLimit: 1000 }));
    const r = await page.evaluate((n) => harness.timePull(n), N);
    if (r.pulled !== N || r.liveQueryRows !== N) throw new Error(`pulled ${r.pulled}, live query ${r.liveQueryRows}`);
    times.push(r.ms);
    await page.evaluate(() => harness.dispose());
    await context.close();
  }
  results.push({ what: '10k pulled events into a live query', ms: median(times), target: 200, runs: times });
  const context = await newContext();
  const page = await openPage(context, web.url, path);
  const p = await page.evaluate(([s, n]) => profilePull(s, n), [server.url, N]);
  breakdowns.push(`  10k pull, core alone (no TanStack): sync round ${fmt(p.total)}, first page's changes at ${fmt(p.firstChangeAt)}`);
  await context.close();
} finally {
  for (const dir of profiles) rmSync(dir, { recursive: true, force: true });
  await server.stop();
  await web.close();
}

console.log(`\nbench (median of ${RUNS}; headless Chromium, OPFS, release wasm)`);
for (const r of results) {
  const ok = r.ms <= r.target ? 'ok' : 'OVER';
  console.log(`  ${r.what.padEnd(40)} ${fmt(r.ms).padStart(8)}   target ≤ ${r.target} ms  ${ok}   runs: ${r.runs.map((x) => x.toFixed(0)).join(', ')}`);
}
console.log('breakdown (one run each):');
for (const b of breakdowns) console.log(b);
