// The built package in Node, in-process mode (the core over in-memory
// SQLite in this thread): the same client and host code as in the worker.
// Run by `make test-wasm` after `make package`.
import { test } from 'node:test';
import assert from 'node:assert/strict';

// The client's own modules: the package entry also needs the @tanstack/db
// peer, which the binding's tests (tests/package) install.
const { CoreClient } = await import(new URL('../../pkg/client.js', import.meta.url).href);
const { EventSourcedError } = await import(new URL('../../pkg/protocol.js', import.meta.url).href);

const insert = (key, row) => ({ collection: 'todos', type: 'insert', key, modified: row });

test('in-process: capture, read back, event log, typed errors', async () => {
  const db = await CoreClient.open('node-test', { mode: 'in-process', storage: 'memory' });
  assert.equal(db.info.storage, 'memory');
  assert.match(db.info.clientId, /^[0-9a-f-]{36}$/);
  const changes = await db.capture([insert('t1', { id: 't1', title: 'one' })]);
  assert.deepEqual(changes, [{ collection: 'todos', key: 't1', type: 'insert', value: { id: 't1', title: 'one' } }]);
  assert.deepEqual(await db.visibleRows('todos'), [{ key: 't1', value: { id: 't1', title: 'one' } }]);
  const events = await db.events();
  assert.equal(events.length, 1);
  assert.equal(events[0].status, 'pending');
  assert.deepEqual(await db.counts(), { pending: 1, rejected: 0, total: 1 });
  await assert.rejects(db.capture([{ collection: 'todos', type: 'boom', key: 'x' }]), (e) => {
    assert.ok(e instanceof EventSourcedError);
    assert.equal(e.code, 'INVALID_MUTATION');
    return true;
  });
  // A value JSON cannot hold is refused before anything is sent or stored.
  await assert.rejects(db.capture([insert('big', { id: 'big', n: 1n })]), (e) => {
    assert.ok(e instanceof EventSourcedError);
    assert.equal(e.code, 'NOT_SERIALIZABLE');
    return true;
  });
  assert.deepEqual(await db.counts(), { pending: 1, rejected: 0, total: 1 });
  await db.close();
  await assert.rejects(db.counts(), (e) => e.code === 'CLOSED');
});

test('in-process: captures of one tick share a transaction but keep their own results', async () => {
  const db = await CoreClient.open('node-burst', { mode: 'in-process', storage: 'memory' });
  const results = await Promise.allSettled([
    db.capture([insert('a', { id: 'a' })]),
    db.capture([{ collection: 'todos', type: 'insert', key: { bad: true }, modified: {} }]),
    db.capture([insert('b', { id: 'b' }), insert('c', { id: 'c' })]),
  ]);
  assert.equal(results[0].status, 'fulfilled');
  assert.deepEqual(results[0].value.map((c) => c.key), ['a']);
  assert.equal(results[1].status, 'rejected');
  assert.equal(results[1].reason.code, 'INVALID_MUTATION');
  assert.deepEqual(results[2].value.map((c) => c.key).sort(), ['b', 'c']);
  assert.equal((await db.counts()).total, 3);

  const many = await Promise.all(Array.from({ length: 1000 }, (_, i) => db.capture([insert(`k${i}`, { id: `k${i}` })])));
  assert.ok(many.every((r, i) => r.length === 1 && r[0].key === `k${i}`));
  assert.equal((await db.counts()).total, 1003);
  await db.close();
});

test('in-process: a custom transport is called back, and OPFS is refused clearly', async () => {
  const db = await CoreClient.open('node-sync', { mode: 'in-process', storage: 'memory' });
  await db.capture([insert('t1', { id: 't1' })]);
  const pushed = [];
  const seen = [];
  db.subscribe((n) => n.kind === 'changes' && seen.push(...n.changes));
  let seq = 0;
  const result = await db.sync({
    async push(events) {
      pushed.push(...events);
      return events.map((e) => ({ eventId: e.eventId, globalSeq: ++seq }));
    },
    async pull(since) {
      if (since !== '0') return { events: [], cursor: since, hasMore: false };
      return {
        events: [
          ...pushed.map((e, i) => ({ ...e, globalSeq: i + 1, cursor: String(i + 1) })),
          { globalSeq: 2, eventId: '018f0000-0000-7000-8000-000000000001', collectionId: 'todos', type: 'insert',
            key: 'remote', payload: { id: 'remote' }, timestamp: 1, cursor: '2' },
        ],
        cursor: '2',
        hasMore: false,
      };
    },
  });
  assert.deepEqual(result.errors, []);
  assert.equal(result.pushed, 1);
  assert.equal(pushed[0].collectionId, 'todos');
  assert.ok(seen.some((c) => c.key === 'remote' && c.type === 'insert'));
  assert.equal(await db.cursor(), '2');
  assert.deepEqual((await db.visibleRows('todos')).map((r) => r.key).sort(), ['remote', 't1']);
  await db.close();

  await assert.rejects(CoreClient.open('node-opfs', { mode: 'in-process' }), (e) => {
    assert.equal(e.code, 'STORAGE_UNAVAILABLE');
    assert.match(e.message, /storage: 'memory'/);
    return true;
  });
});

test('in-process: large captures travel as JSON text, alone or coalesced with small ones', async () => {
  const db = await CoreClient.open('node-text', { mode: 'in-process', storage: 'memory' });
  const many = (prefix, n) => Array.from({ length: n }, (_, i) => insert(`${prefix}${i}`, { id: `${prefix}${i}`, n: i }));
  // Alone: text in, text out, parsed by the client.
  const alone = await db.capture(many('a', 100));
  assert.equal(alone.length, 100);
  assert.deepEqual(alone[7], { collection: 'todos', key: 'a7', type: 'insert', value: { id: 'a7', n: 7 } });
  // One tick: a large (text) and a small (objects) capture share a transaction, each gets its own rows.
  const [big, small] = await Promise.all([db.capture(many('b', 80)), db.capture([insert('s', { id: 's' })])]);
  assert.deepEqual(big.map((c) => c.key), Array.from({ length: 80 }, (_, i) => `b${i}`));
  assert.deepEqual(small.map((c) => c.key), ['s']);
  assert.equal((await db.visibleRows('todos')).length, 181);
  await db.close();
});
