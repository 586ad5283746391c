// Several tabs of one app on one OPFS database, in one real Chromium (a
// persistent profile, so OPFS, Web Locks and BroadcastChannel are shared as
// between the tabs of a window): concurrent writes, the leader tab closed in
// the middle of writes, every tab reloaded in turn while writing. Each write
// must be in the log exactly once and every tab must show the same rows.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { bundle } from './build.mjs';
import { launchPersistent } from './chromium.mjs';
import { startStaticServer } from './static-server.mjs';
import { startSyncServer } from '../package/sync-server.mjs';

let context;
let web;
let server;
let profile;
/** Every write some tab saw acknowledged (its insert resolved), by id. */
const acked = new Set();
/** Errors pages reported (uncaught, console.error). */
const pageErrors = [];

before(async () => {
  await bundle();
  web = await startStaticServer();
  server = await startSyncServer();
  profile = mkdtempSync(join(tmpdir(), 'esdb-tabs-'));
  context = await launchPersistent(profile);
  await context.exposeBinding('ack', (_source, id) => {
    acked.add(id);
  });
});
after(async () => {
  await context?.close();
  await server?.stop();
  await web?.close();
  if (profile) rmSync(profile, { recursive: true, force: true });
});

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const until = async (what, predicate, ms = 15_000) => {
  const end = Date.now() + ms;
  for (;;) {
    const value = await predicate();
    if (value) return value;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(25);
  }
};

async function openTab(db, label) {
  const page = await context.newPage();
  page.on('pageerror', (e) => pageErrors.push(`[${label}] ${e.message}`));
  page.on('console', (m) => {
    if (m.type() === 'error') pageErrors.push(`[${label}] ${m.text()}`);
    if (process.env.ESDB_DEBUG) console.error(`[${label} console.${m.type()}] ${m.text()}`);
  });
  await page.goto(`${web.url}/tabs.html?tab=${label}&server=${encodeURIComponent(server.url)}`);
  await openDb(page, db);
  return page;
}

async function openDb(page, db) {
  await page.waitForFunction(() => document.body.dataset.ready === 'true');
  return page.evaluate((name) => tabs.open(name), db);
}

const leaders = (pages) => Promise.all(pages.map((p) => p.evaluate(() => tabs.isLeader())));

/** Each write once in the log; returns the log's keys. */
async function assertLogExactlyOnce(page) {
  const keys = await page.evaluate(() => tabs.logKeys());
  const seen = new Map();
  for (const k of keys) seen.set(k, (seen.get(k) ?? 0) + 1);
  const twice = [...seen].filter(([, n]) => n > 1).map(([k]) => k);
  assert.deepEqual(twice, [], 'writes captured more than once');
  return new Set(keys);
}

/** Every tab shows the log's rows, and every acknowledged write is among them. */
async function assertConverged(pages, prefix) {
  const log = await assertLogExactlyOnce(pages[0]);
  const expected = [...log].filter((k) => k.startsWith(prefix)).sort();
  const lost = [...acked].filter((k) => k.startsWith(prefix) && !log.has(k));
  assert.deepEqual(lost, [], 'acknowledged writes missing from the log');
  for (const page of pages) {
    await until('every tab to show the same rows', async () => {
      const ids = (await page.evaluate(() => tabs.ids())).filter((k) => k.startsWith(prefix));
      return JSON.stringify(ids) === JSON.stringify(expected);
    });
  }
  return expected;
}

/** The server has every write once (the leader pushed them all, across leader changes). */
async function assertServerExactlyOnce(page, expected, prefix) {
  await until('the leader to push everything', async () => (await page.evaluate(() => tabs.status())).pendingCount === 0, 20_000);
  const keys = [];
  let since = '0';
  for (;;) {
    const body = await (await fetch(`${server.url}/api/events?since=${since}&limit=1000`)).json();
    keys.push(...body.events.map((e) => String(e.key)).filter((k) => k.startsWith(prefix)));
    since = body.cursor;
    if (!body.hasMore) break;
  }
  assert.equal(keys.length, new Set(keys).size, 'an event reached the server twice');
  assert.deepEqual(keys.sort(), expected);
}

function assertNoPageErrors() {
  const errors = pageErrors.splice(0);
  assert.deepEqual(errors, [], 'the pages reported errors');
}

test('three tabs write concurrently: every write in the log once, the same rows everywhere', async () => {
  const db = 'tabs-concurrent';
  const pages = [await openTab(db, 'A'), await openTab(db, 'B'), await openTab(db, 'C')];
  try {
    assert.deepEqual(await leaders(pages), [true, false, false], 'the first tab leads');
    await Promise.all(pages.map((p, i) => p.evaluate((prefix) => tabs.startWriting(prefix, 0, 60), `a${i}`)));
    const results = await Promise.all(pages.map((p) => p.evaluate(() => tabs.finishWriting())));
    for (const r of results) assert.deepEqual(r, { written: 60, errors: [] });
    const rows = await assertConverged(pages, 'a');
    assert.equal(rows.length, 180);
    await assertServerExactlyOnce(pages[0], rows, 'a');
    assertNoPageErrors();
  } finally {
    for (const p of pages) await p.close();
  }
});

test('a tab alone broadcasts nothing; a tab that joins while it writes shows every row', async () => {
  const db = 'tabs-alone-then-joined';
  const a = await context.newPage();
  // Counts the leader's change notifications to other tabs (host messages to all).
  await a.addInitScript(() => {
    const post = BroadcastChannel.prototype.postMessage;
    window.broadcasts = 0;
    BroadcastChannel.prototype.postMessage = function (m) {
      if (m?.t === 'host' && m.to === undefined) window.broadcasts++;
      return post.call(this, m);
    };
  });
  a.on('pageerror', (e) => pageErrors.push(`[A] ${e.message}`));
  await a.goto(`${web.url}/tabs.html?tab=A&server=${encodeURIComponent(server.url)}`);
  await openDb(a, db);
  let b;
  try {
    await a.evaluate(() => tabs.startWriting('c-alone', 0, 50));
    assert.deepEqual(await a.evaluate(() => tabs.finishWriting()), { written: 50, errors: [] });
    assert.equal(await a.evaluate(() => window.broadcasts), 0, 'a tab alone broadcast changes');
    // B opens while A keeps writing: A's writes before B was heard are in B's
    // hydration, the ones after reach it as notifications.
    await a.evaluate(() => tabs.startWriting('c-during', 2, 100));
    b = await openTab(db, 'B');
    assert.deepEqual(await a.evaluate(() => tabs.finishWriting()), { written: 100, errors: [] });
    assert.ok((await a.evaluate(() => window.broadcasts)) > 0, 'A never broadcast after B joined');
    const rows = await assertConverged([a, b], 'c-');
    assert.equal(rows.length, 150);
    assertNoPageErrors();
  } finally {
    await a.close();
    await b?.close();
  }
});

test('the leader tab closes in the middle of writes: another takes over, nothing is lost', async () => {
  const db = 'tabs-leader-closes';
  const pages = [await openTab(db, 'A'), await openTab(db, 'B'), await openTab(db, 'C')];
  const [leader, ...others] = pages;
  try {
    assert.deepEqual(await leaders(pages), [true, false, false]);
    await Promise.all(pages.map((p, i) => p.evaluate((prefix) => tabs.startWriting(prefix, 5, 80), `b${i}`)));
    await until('writes to be under way', () => [...acked].filter((k) => k.startsWith('b')).length >= 40);
    const t0 = Date.now();
    await leader.close();
    await until('a new leader', async () => (await leaders(others)).some(Boolean), 5_000);
    const takeoverMs = Date.now() - t0;
    console.log(`  takeover after the leader closed: ${takeoverMs} ms`);
    assert.ok(takeoverMs < 1_500, `takeover took ${takeoverMs} ms`);
    assert.equal((await leaders(others)).filter(Boolean).length, 1);
    const results = await Promise.all(others.map((p) => p.evaluate(() => tabs.finishWriting())));
    for (const r of results) assert.deepEqual(r, { written: 80, errors: [] });
    const rows = await assertConverged(others, 'b');
    const newLeader = others[(await leaders(others)).indexOf(true)];
    await assertServerExactlyOnce(newLeader, rows, 'b');
    assertNoPageErrors();
  } finally {
    for (const p of pages) if (!p.isClosed()) await p.close();
  }
});

test('every tab reloads in turn while all write: nothing lost, no "locked" error', async () => {
  const db = 'tabs-reloads';
  const pages = [await openTab(db, 'A'), await openTab(db, 'B'), await openTab(db, 'C')];
  try {
    await Promise.all(pages.map((p, i) => p.evaluate((prefix) => tabs.startWriting(prefix, 10), `c${i}r0`)));
    for (let i = 0; i < pages.length; i++) {
      await sleep(400);
      const wasLeader = await pages[i].evaluate(() => tabs.isLeader());
      await pages[i].reload();
      const opened = await openDb(pages[i], db);
      console.log(`  tab ${i} (${wasLeader ? 'leader' : 'follower'}) reopened in ${Math.round(opened.ms)} ms`);
      await pages[i].evaluate((prefix) => tabs.startWriting(prefix, 10), `c${i}r1`);
    }
    await sleep(400);
    const results = await Promise.all(pages.map((p) => p.evaluate(() => tabs.stopWriting())));
    for (const r of results) {
      assert.deepEqual(r.errors, []);
      assert.ok(r.written > 0);
    }
    assert.equal((await leaders(pages)).filter(Boolean).length, 1);
    const rows = await assertConverged(pages, 'c');
    const leader = pages[(await leaders(pages)).indexOf(true)];
    await assertServerExactlyOnce(leader, rows, 'c');
    assertNoPageErrors();
  } finally {
    for (const p of pages) await p.close();
  }
});

test('a tab goes to another page and back (back/forward cache) while another writes: it resumes, nothing is lost', async () => {
  const db = 'tabs-back-forward';
  const pages = [await openTab(db, 'A'), await openTab(db, 'B')];
  const [away, stays] = pages;
  try {
    assert.deepEqual(await leaders(pages), [true, false]);
    await away.evaluate(() => tabs.startWriting('d0', 10, 20));
    await stays.evaluate(() => tabs.startWriting('d1', 10));
    await until('A to have written', () => [...acked].filter((k) => k.startsWith('d0')).length >= 10);
    await away.goto(`${web.url}/blank.html`);
    // B took over: A let go of the lock and the database on pagehide.
    await until('B to lead', () => stays.evaluate(() => tabs.isLeader()), 5_000);
    // From the back/forward cache: no load event, the page resumes as it was.
    await away.goBack({ waitUntil: 'commit' });
    await away.waitForFunction(() => document.body.dataset.ready === 'true');
    const restored = await away.evaluate(() => typeof tabs !== 'undefined' && tabs.isOpen());
    assert.ok(restored, 'the page came back from the back/forward cache with its database open');
    // It joined again (pageshow): as a follower, B leads now.
    await until('A to follow B', async () => JSON.stringify(await leaders(pages)) === '[false,true]', 5_000);
    await away.evaluate(() => tabs.startWriting('d2', 10, 20));
    const mine = await away.evaluate(() => tabs.finishWriting());
    assert.deepEqual(mine.errors, []);
    const theirs = await stays.evaluate(() => tabs.stopWriting());
    assert.deepEqual(theirs.errors, []);
    await assertConverged(pages, 'd');
    assertNoPageErrors();
  } finally {
    for (const p of pages) await p.close();
  }
});

test('a capture request sent twice (a retry at another leader) is one event; every tab shows the row', async () => {
  const db = 'tabs-resent';
  const pages = [await openTab(db, 'A'), await openTab(db, 'B'), await openTab(db, 'C')];
  try {
    assert.deepEqual(await leaders(pages), [true, false, false]);
    await pages[1].evaluate(() => tabs.insertSentTwice('e-from-follower'));
    await pages[0].evaluate(() => tabs.insertSentTwice('e-from-leader'));
    const rows = await assertConverged(pages, 'e');
    assert.deepEqual(rows, ['e-from-follower', 'e-from-leader']);
    await assertServerExactlyOnce(pages[0], rows, 'e');
    assertNoPageErrors();
  } finally {
    for (const p of pages) await p.close();
  }
});

