// The built package in real headless Chromium (Debian's), driven by
// Playwright: OPFS persistence across reloads, sync through the reference
// server, two browser contexts converging, and the README's usage section.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { bundle } from './build.mjs';
import { launch, openPage } from './chromium.mjs';
import { startStaticServer } from './static-server.mjs';
import { freePort, startSyncServer } from '../package/sync-server.mjs';

let browser;
let web;
before(async () => {
  await bundle();
  web = await startStaticServer();
  browser = await launch();
});
after(async () => {
  await browser?.close();
  await web?.close();
});

const until = async (what, predicate, ms = 15_000) => {
  const end = Date.now() + ms;
  for (;;) {
    const value = await predicate();
    if (value) return value;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
};
const serverEvents = async (url) => (await (await fetch(`${url}/api/events?since=0&limit=1000`)).json()).events;

test('insert while the server is down, reload: row and pending event survive; start the server: it syncs', async () => {
  const port = await freePort();
  const serverUrl = `http://127.0.0.1:${port}`;
  const context = await browser.newContext();
  let page = await openPage(context, web.url, `/harness.html?server=${encodeURIComponent(serverUrl)}`);
  const opened = await page.evaluate(() => harness.open('offline-db'));
  assert.equal(opened.storage, 'opfs');
  const writtenAt = Date.now();
  await page.evaluate(() => harness.insert('o1', 'written offline'));
  assert.deepEqual(await page.evaluate(() => harness.pendingEvents()), [{ key: 'o1', type: 'insert' }]);

  await page.reload();
  await page.waitForFunction(() => document.body.dataset.ready === 'true');
  const reopened = await page.evaluate(() => harness.open('offline-db'));
  assert.equal(reopened.rows, 1, 'the row is still there after the reload');
  assert.deepEqual(await page.evaluate(() => harness.rows()), [{ id: 'o1', title: 'written offline', done: false }]);
  assert.deepEqual(await page.evaluate(() => harness.pendingEvents()), [{ key: 'o1', type: 'insert' }]);
  const status = await page.evaluate(() => harness.status());
  assert.equal(status.pendingCount, 1);

  const server = await startSyncServer({ port });
  try {
    // No manual sync: auto-sync retries with backoff until the server answers.
    await until('the pending event to be confirmed', async () => (await page.evaluate(() => harness.status())).pendingCount === 0);
    assert.deepEqual(await page.evaluate(() => harness.pendingEvents()), []);
    const events = await serverEvents(serverUrl);
    assert.deepEqual(events.map((e) => [e.key, e.type, e.payload.title]), [['o1', 'insert', 'written offline']]);

    // After a reload, before any round (auto-sync off): lastSyncAt comes from the confirmed event.
    await page.evaluate(() => harness.dispose());
    await page.reload();
    await page.waitForFunction(() => document.body.dataset.ready === 'true');
    await page.evaluate(() => harness.open('offline-db', { autoSync: false }));
    const { lastSyncAt } = await page.evaluate(() => harness.status());
    assert.ok(typeof lastSyncAt === 'number' && lastSyncAt >= writtenAt && lastSyncAt <= Date.now(), `lastSyncAt ${lastSyncAt}`);
  } finally {
    await page.evaluate(() => harness.dispose());
    await context.close();
    await server.stop();
  }
});

test('a page thread busy with earlier changes gets later pages merged: each change once, in order', async () => {
  const server = await startSyncServer();
  try {
    const keys = [];
    for (let i = 0; i < 4000; i += 500) {
      const events = [];
      for (let j = i; j < i + 500; j++) {
        const key = `k${String(j).padStart(4, '0')}`;
        keys.push(key);
        events.push({ eventId: crypto.randomUUID(), collectionId: 'todos', type: 'insert', key, payload: { id: key, title: 't', done: false }, timestamp: 1 });
      }
      const r = await fetch(`${server.url}/api/events`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(events) });
      assert.equal(r.status, 200);
    }
    const context = await browser.newContext();
    const page = await openPage(context, web.url, '/harness.html');
    // 20 pages of 200; the subscriber holds the page thread 60 ms per notification.
    const r = await page.evaluate((url) => slowPull(url, 200, 60), server.url);
    assert.equal(r.pulled, 4000);
    assert.deepEqual(r.keys, keys, 'every change once, in server order, before sync() resolved');
    assert.ok(r.notifications < 20, `${r.notifications} notifications for 20 pages`);
    await context.close();
  } finally {
    await server.stop();
  }
});

test('two browser contexts converge through the reference server', async () => {
  const server = await startSyncServer();
  const path = `/harness.html?server=${encodeURIComponent(server.url)}`;
  const ctxA = await browser.newContext();
  const ctxB = await browser.newContext();
  try {
    const a = await openPage(ctxA, web.url, path);
    const b = await openPage(ctxB, web.url, path);
    await a.evaluate(() => harness.open('converge'));
    await b.evaluate(() => harness.open('converge'));
    await a.evaluate(() => harness.insert('a1', 'from A'));
    await b.evaluate(() => harness.insert('b1', 'from B'));
    // Live tail + auto-sync: no manual sync call.
    const both = [
      { id: 'a1', title: 'from A', done: false },
      { id: 'b1', title: 'from B', done: false },
    ];
    await until('A to have both', async () => JSON.stringify(await a.evaluate(() => harness.rows())) === JSON.stringify(both));
    await until('B to have both', async () => JSON.stringify(await b.evaluate(() => harness.rows())) === JSON.stringify(both));
    await b.evaluate(() => harness.update('a1', true));
    await until('A to see B\'s edit', async () => (await a.evaluate(() => harness.rows()))[0].done === true);
    assert.deepEqual(await a.evaluate(() => harness.rows()), await b.evaluate(() => harness.rows()));
    await a.evaluate(() => harness.dispose());
    await b.evaluate(() => harness.dispose());
  } finally {
    await ctxA.close();
    await ctxB.close();
    await server.stop();
  }
});

test("the README's usage section works as written (imports and URLs adapted)", async () => {
  const server = await startSyncServer();
  const context = await browser.newContext();
  try {
    // An earlier session left 'todo-1' (the README updates and deletes it).
    const seed = await openPage(context, web.url, `/harness.html?server=${encodeURIComponent(server.url)}`);
    await seed.evaluate(async () => {
      await harness.open('eventsourced-db', { autoSync: false });
      await harness.insert('todo-1', 'Walk the dog');
      await harness.dispose();
    });
    await seed.close();

    const page = await openPage(context, web.url, `/readme.html?server=${encodeURIComponent(server.url)}`);
    const readme = await page.evaluate(() => window.readme);
    assert.deepEqual(readme.result, { pushed: 5, pulled: 5, errors: 0 }, 'todo-1 insert + user + todo + update + delete');
    await page.waitForFunction(() => document.querySelectorAll('li').length === 1);
    const items = await page.$$eval('li', (lis) => lis.map((li) => li.textContent));
    assert.deepEqual(items, ['Buy groceries — ']);
    await page.waitForFunction(() => document.getElementById('badge')?.textContent === 'online · 0 pending · 0 rejected');
    const events = await serverEvents(server.url);
    assert.deepEqual(
      events.map((e) => `${e.collectionId}:${e.type}`),
      ['todos:insert', 'users:insert', 'todos:insert', 'todos:update', 'todos:delete'],
    );
    await page.screenshot({ path: new URL('./.out/readme.png', import.meta.url).pathname });
  } finally {
    await context.close();
    await server.stop();
  }
});
