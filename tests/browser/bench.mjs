// Benchmark of the TanStack binding in headless Chromium on OPFS (release
// wasm from pkg/, production TanStack build). Prints:
//   - cold start: createEventSourcedDB until every collection is ready,
//     after a page reload (new worker, wasm, open, hydration), 10k and 100k rows;
//   - 10k remote events pulled from the reference server until a live query
//     shows them, on a first visit and in an app in use; beside it, TanStack
//     DB alone taking the same rows on a fresh page.
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

/** Puts `count` insert events of keys `${prefix}0…` on the server, 500 per push. */
async function seed(url, prefix, count) {
  for (let i = 0; i < count; i += 500) {
    const events = [];
    for (let j = i; j < Math.min(count, i + 500); j++) {
      const row = { id: `${prefix}${j}`, title: `remote ${j}`, done: false, createdAt: j };
      events.push({ eventId: randomUUID(), collectionId: 'todos', type: 'insert', key: row.id, payload: row, timestamp: Date.now() });
    }
    const r = await fetch(`${url}/api/events`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(events) });
    if (!r.ok) throw new Error(`seeding failed: ${r.status}`);
  }
}
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
    // The same cold start's milestones, as the page sees them.
    await page.reload();
    await page.waitForFunction(() => document.body.dataset.ready === 'true');
    const t = await page.evaluate((n) => profile.coldTimeline(`cold-${n}`), rows);
    if (t.rows !== rows) throw new Error(`expected ${rows} rows, got ${t.rows}`);
    const steps = ['lock granted', 'worker created', 'wasm handed over', 'open answered', 'first rows', 'ready'];
    breakdowns.push(`  cold start ${rows / 1000}k, ms after open was called: ${steps.map((k) => `${k} ${t[k]?.toFixed(0) ?? '-'}`).join(', ')}`);
    await page.evaluate(() => harness.dispose());
    await context.close();
  }

  // 10k remote events from "another device", pulled into a live query: on a
  // first visit (new profile: nothing compiled, neither our wasm nor
  // TanStack's code), then, in the same page, 10k more (an app in use).
  // A server per run, so each first pull is exactly 10k events.
  const N = 10_000;
  const firstVisit = [];
  const inUse = [];
  for (let i = 0; i < RUNS; i++) {
    const pullServer = await startSyncServer({ args: ['--sqlite-sync', 'normal'] });
    try {
      await seed(pullServer.url, 'p', N);
      const context = await newContext();
      const page = await openPage(context, web.url, `/harness.html?server=${encodeURIComponent(pullServer.url)}`);
      await page.evaluate(() => harness.open('pull', { autoSync: false }));
      const first = await page.evaluate((n) => harness.timePull(n), N);
      if (first.pulled !== N || first.liveQueryRows !== N) throw new Error(`pulled ${first.pulled}, live query ${first.liveQueryRows}`);
      firstVisit.push(first.ms);
      await seed(pullServer.url, 'q', N);
      const second = await page.evaluate((n) => harness.timePull(n), 2 * N);
      if (second.pulled !== N || second.liveQueryRows !== 2 * N) throw new Error(`pulled ${second.pulled}, live query ${second.liveQueryRows}`);
      inUse.push(second.ms);
      await page.evaluate(() => harness.dispose());
      await context.close();
    } finally {
      await pullServer.stop();
    }
  }
  results.push({ what: '10k pulled events into a live query, first visit', ms: median(firstVisit), target: 200, runs: firstVisit });
  results.push({ what: '10k more pulled events, app in use', ms: median(inUse), target: 200, runs: inUse });

  // TanStack DB alone on a fresh page: the same 10k rows written straight
  // into a collection's sync (10 commits of 1000) under the same live query.
  // And in use: the same 10k rows into a collection and live query that
  // took 10k first in the same page (so TanStack's code has run, as in ours).
  const alone = [];
  const aloneInUse = [];
  for (let i = 0; i < RUNS; i++) {
    const context = await newContext();
    const page = await openPage(context, web.url, path);
    alone.push(await page.evaluate((n) => profile.tanstackAlone(n, 10), N));
    await context.close();
    const inUseContext = await newContext();
    const inUsePage = await openPage(inUseContext, web.url, path);
    aloneInUse.push(await inUsePage.evaluate((n) => profile.tanstackAlone(n, 10, n), N));
    await inUseContext.close();
  }
  const runsOf = (xs) => xs.map((x) => x.toFixed(0)).join(', ');
  breakdowns.push(`  TanStack DB alone, fresh page, 10k rows in 10 sync commits into the same live query: ${fmt(median(alone))} (runs: ${runsOf(alone)})`);
  breakdowns.push(`  TanStack DB alone, app in use, 10k more rows the same way: ${fmt(median(aloneInUse))} (runs: ${runsOf(aloneInUse)})`);

  await seed(server.url, 'p', N);
  const context = await newContext();
  const page = await openPage(context, web.url, path);
  const p = await page.evaluate(([s, n]) => profilePull(s, n), [server.url, N]);
  breakdowns.push(`  10k pull, core alone (no TanStack), first visit: sync round ${fmt(p.total)}, first page's changes at ${fmt(p.firstChangeAt)}`);
  await context.close();
} finally {
  for (const dir of profiles) rmSync(dir, { recursive: true, force: true });
  await server.stop();
  await web.close();
}

console.log(`\nbench (median of ${RUNS}; headless Chromium, OPFS, release wasm)`);
for (const r of results) {
  const ok = r.ms <= r.target ? 'ok' : 'OVER';
  console.log(`  ${r.what.padEnd(50)} ${fmt(r.ms).padStart(8)}   target ≤ ${r.target} ms  ${ok}   runs: ${r.runs.map((x) => x.toFixed(0)).join(', ')}`);
}
console.log('breakdown (one run each):');
for (const b of breakdowns) console.log(b);
