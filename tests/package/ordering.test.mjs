// The host's messages keep one order: a capture's response is posted before
// any later notification (before the fix it went a microtask late, so a
// pulled newer state of the same row could land first and be overwritten
// by the stale capture result). Drives the packaged host directly.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';

const dir = new URL('./node_modules/@eventsourced/db/', import.meta.url);
// By path: the host is internal (not in the package's exports).
const { CoreHost } = await import(new URL('worker-host.js', dir));
const glue = await import(new URL('eventsourced_db.js', dir));

test('a capture response is posted before the notification that follows it', async () => {
  await glue.default({ module_or_path: await readFile(new URL('eventsourced_db_bg.wasm', dir)) });
  const posted = [];
  const tasks = [];
  const host = new CoreHost({
    load: async () => glue.EventSourcedCore,
    post: (m) => posted.push(m),
    schedule: (task) => tasks.push(task),
  });
  host.receive({
    type: 'requests',
    batch: [{ id: 1, request: { op: 'open', name: 'order', options: { storage: 'memory' }, notifyCaptures: true } }],
  });
  await new Promise((r) => setTimeout(r, 50));
  posted.length = 0;
  const mutation = { collection: 'todos', type: 'insert', key: 'k', modified: { id: 'k' } };
  const request = { op: 'capture', mutations: JSON.stringify([mutation]), rows: [['todos', 'k']] };
  host.receive({ type: 'requests', batch: [{ id: 2, request }] });
  // An idle host flushes at the end of the task; a busy one schedules it.
  await Promise.resolve();
  while (tasks.length > 0) tasks.shift()();
  await new Promise((r) => setTimeout(r, 0));
  assert.deepEqual(
    posted.map((m) => (m.type === 'notify' ? `notify:${m.notification.kind}` : `${m.type}:${m.batch.map((r) => r.id)}`)),
    ['responses:2', 'notify:changes'],
  );
  host.receive({ type: 'requests', batch: [{ id: 3, request: { op: 'close' } }] });
  await new Promise((r) => setTimeout(r, 20));
});

test('changes wait for the acknowledgement of the previous ones; the order stays', async () => {
  const posted = [];
  const host = new CoreHost({
    load: async () => glue.EventSourcedCore,
    post: (m) => posted.push(m),
    schedule: (task) => queueMicrotask(task),
  });
  host.receive({
    type: 'requests',
    batch: [{ id: 1, request: { op: 'open', name: 'acks', options: { storage: 'memory' }, notifyCaptures: true, acks: true } }],
  });
  await new Promise((r) => setTimeout(r, 50));
  posted.length = 0;
  const capture = (id, key) => {
    const mutation = { collection: 'todos', type: 'insert', key, modified: { id: key } };
    host.receive({ type: 'requests', batch: [{ id, request: { op: 'capture', mutations: [mutation] } }] });
    return new Promise((r) => setTimeout(r, 5));
  };
  const seen = () =>
    posted.map((m) => (m.type === 'notify' ? `changes:${JSON.parse(m.notification.changesJson).map((c) => c.key)}` : `${m.type}:${m.batch.map((r) => r.id)}`));
  await capture(2, 'a');
  assert.deepEqual(seen(), ['responses:2', 'changes:a']);
  // 'a' is not acknowledged yet: b's changes wait; its response does not.
  await capture(3, 'b');
  assert.deepEqual(seen(), ['responses:2', 'changes:a', 'responses:3']);
  host.receive({ type: 'ack' });
  assert.deepEqual(seen(), ['responses:2', 'changes:a', 'responses:3', 'changes:b']);
  // Anything else posted sends what is held first: c's changes go before d's response.
  await capture(4, 'c');
  await capture(5, 'd');
  assert.deepEqual(seen().slice(4), ['responses:4', 'changes:c', 'responses:5']);
  host.receive({ type: 'requests', batch: [{ id: 6, request: { op: 'close' } }] });
  await new Promise((r) => setTimeout(r, 20));
});

test('the WAL is checkpointed once writes have been quiet for a second, never after close', async () => {
  let checkpoints = 0;
  const original = glue.EventSourcedCore.prototype.checkpoint;
  glue.EventSourcedCore.prototype.checkpoint = function () {
    checkpoints++;
    return original.call(this);
  };
  try {
    const host = new CoreHost({ load: async () => glue.EventSourcedCore, post: () => {}, schedule: (task) => queueMicrotask(task) });
    let id = 1;
    const send = (request) => host.receive({ type: 'requests', batch: [{ id: id++, request }] });
    send({ op: 'open', name: 'idle', options: { storage: 'memory' } });
    await new Promise((r) => setTimeout(r, 50));
    const capture = (key) => send({ op: 'capture', mutations: [{ collection: 'todos', type: 'insert', key, modified: { id: key } }] });
    capture('a');
    await new Promise((r) => setTimeout(r, 500));
    capture('b');
    await new Promise((r) => setTimeout(r, 500));
    assert.equal(checkpoints, 0, 'a write within the second puts it off');
    await new Promise((r) => setTimeout(r, 800));
    assert.equal(checkpoints, 1);
    capture('c');
    send({ op: 'close' });
    await new Promise((r) => setTimeout(r, 1300));
    assert.equal(checkpoints, 1, 'none after close');
  } finally {
    glue.EventSourcedCore.prototype.checkpoint = original;
  }
});
