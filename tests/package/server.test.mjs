// The built package against the reference sync server over real HTTP on
// loopback (the binary started on a free port, stopped by PID).
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { createEventSourcedDB } from '@eventsourced/db';
import { startSyncServer } from './sync-server.mjs';

const server = await startSyncServer({ args: ['--rule', 'todos:title=nonempty-string'] });
after(() => server.stop());

let n = 0;
const device = (config = {}) =>
  createEventSourcedDB({
    name: `device-${++n}`,
    sync: { push: `${server.url}/api/events`, pull: `${server.url}/api/events`, headers: () => ({ 'X-Test': 'yes' }) },
    collections: { todos: { getKey: (t) => t.id } },
    ...config,
  });
const until = async (what, predicate, ms = 8000) => {
  const end = Date.now() + ms;
  while (!(await predicate())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
};

test('two devices converge through the reference server (manual sync)', async () => {
  const a = await device({ autoSync: false });
  const b = await device({ autoSync: false });
  await a.collections.todos.insert({ id: 'm1', title: 'Buy milk', done: false }).isPersisted.promise;
  await b.collections.todos.insert({ id: 'm2', title: 'Call dentist', done: false }).isPersisted.promise;
  const ra = await a.sync();
  assert.deepEqual([ra.pushed, ra.errors.length], [1, 0]);
  const rb = await b.sync();
  assert.equal(rb.pushed, 1);
  assert.equal(rb.pulled, 2, "its own event and the other device's");
  await a.sync();
  for (const db of [a, b]) assert.deepEqual(db.collections.todos.toArray.map((t) => t.id).sort(), ['m1', 'm2']);
  // Concurrent edits of different fields both survive (field changes extension).
  a.collections.todos.update('m1', (d) => {
    d.done = true;
  });
  b.collections.todos.update('m1', (d) => {
    d.title = 'Buy oat milk';
  });
  await a.sync();
  await b.sync();
  await a.sync();
  for (const db of [a, b]) {
    const { id, title, done } = db.collections.todos.get('m1');
    assert.deepEqual({ id, title, done }, { id: 'm1', title: 'Buy oat milk', done: true });
  }
  await a.dispose();
  await b.dispose();
});

test('auto-sync: a write on one device reaches the other through the live tail, no manual sync', async () => {
  const a = await device({ autoSync: { debounceMs: 10, intervalMs: 0 } });
  const b = await device({ autoSync: { debounceMs: 10, intervalMs: 0 } });
  const started = Date.now();
  a.collections.todos.insert({ id: `live-${started}`, title: 'Live', done: false });
  await until('device b to see the row', () => b.collections.todos.has(`live-${started}`));
  await until('device a to be clean', () => a.status.pendingCount === 0);
  assert.ok(a.status.lastSyncAt >= started);
  await a.dispose();
  await b.dispose();
});

test('the server refuses an empty title: the row rolls back and onEventRejected is called', async () => {
  const rejected = [];
  const db = await device({ autoSync: false, onEventRejected: (r) => rejected.push(r) });
  await db.collections.todos.insert({ id: 'empty', title: '', done: false }).isPersisted.promise;
  assert.equal(db.collections.todos.has('empty'), true);
  const result = await db.sync();
  assert.equal(result.rejected, 1);
  assert.equal(db.collections.todos.has('empty'), false);
  assert.equal(rejected.length, 1);
  assert.equal(rejected[0].key, 'empty');
  assert.match(rejected[0].reason, /title/);
  await db.dispose();
});

test('server down: errors are reported, nothing is lost, the next round syncs', async () => {
  const errors = [];
  const down = await startSyncServer();
  const url = down.url;
  await down.stop({ keep: true });
  const db = await createEventSourcedDB({
    name: 'offline-device',
    sync: { push: `${url}/api/events`, pull: `${url}/api/events` },
    syncOptions: { maxAttempts: 1 },
    autoSync: false,
    onSyncError: (e) => errors.push(e),
    collections: { todos: { getKey: (t) => t.id } },
  });
  await db.collections.todos.insert({ id: 'o1', title: 'offline' }).isPersisted.promise;
  const r1 = await db.sync();
  assert.equal(r1.pushed, 0);
  assert.ok(r1.errors.length > 0);
  assert.equal(errors.length, r1.errors.length);
  assert.ok(db.status.lastError);
  const up = await startSyncServer({ port: down.port, dir: down.dir });
  const r2 = await db.sync();
  assert.deepEqual([r2.pushed, r2.errors.length], [1, 0]);
  await db.dispose();
  await up.stop({ keep: false });
});
