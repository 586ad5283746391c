// The TanStack binding of the BUILT package (installed from `npm pack` of
// pkg/), in Node: the core runs in-process over in-memory SQLite.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BasicIndex, createLiveQueryCollection, createTransaction, eq } from '@tanstack/db';
import { createEventSourcedDB, CaptureError, EventSourcedError, NotStorableError } from '@eventsourced/db';

let n = 0;
const open = (config = {}) =>
  createEventSourcedDB({
    name: `node-${++n}`,
    collections: { todos: { getKey: (t) => t.id }, projects: { getKey: (p) => p.id } },
    ...config,
  });

/** A row without TanStack's virtual props ($synced, $origin, ...). */
const plain = (row) => row && Object.fromEntries(Object.entries(row).filter(([k]) => !k.startsWith('$')));
/** Counts capture calls (one call = one SQLite transaction in the core). */
function spyCaptures(db) {
  const calls = [];
  const original = db.client.capture.bind(db.client);
  db.client.capture = (mutations) => {
    calls.push(mutations);
    return original(mutations);
  };
  return calls;
}
/** A transport of JS functions standing for a server. */
function fakeServer() {
  const log = [];
  const server = {
    log,
    rejectIf: () => null,
    transport: {
      async push(events) {
        const confirmed = [];
        const rejected = [];
        for (const e of events) {
          const reason = server.rejectIf(e);
          if (reason) rejected.push({ eventId: e.eventId, code: 'VALIDATION', reason });
          else {
            log.push({ ...e, globalSeq: log.length + 1, cursor: String(log.length + 1) });
            confirmed.push({ eventId: e.eventId, globalSeq: log.length });
          }
        }
        return { confirmed, rejected };
      },
      async pull(since, limit) {
        const after = log.filter((e) => e.globalSeq > Number(since));
        const events = after.slice(0, limit);
        return { events, cursor: events.at(-1)?.cursor ?? since, hasMore: after.length > limit };
      },
    },
    /** An event written by another device. */
    remote(e) {
      log.push({ eventId: crypto.randomUUID(), timestamp: Date.now(), ...e, globalSeq: log.length + 1, cursor: String(log.length + 1) });
    },
  };
  return server;
}
const until = async (what, predicate, ms = 5000) => {
  const end = Date.now() + ms;
  while (!(await predicate())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
};

test('insert, update and delete each capture exactly one event with the right payload', async () => {
  const db = await open();
  const todos = db.collections.todos;
  const calls = spyCaptures(db);

  await todos.insert({ id: 't1', title: 'Buy milk', done: false }).isPersisted.promise;
  let events = await db.client.events();
  assert.equal(events.length, 1);
  assert.deepEqual(
    { type: events[0].type, collectionId: events[0].collectionId, key: events[0].key, payload: events[0].payload, status: events[0].status },
    { type: 'insert', collectionId: 'todos', key: 't1', payload: { id: 't1', title: 'Buy milk', done: false }, status: 'pending' },
  );

  await todos.update('t1', (d) => {
    d.done = true;
  }).isPersisted.promise;
  events = await db.client.events();
  assert.equal(events.length, 2);
  assert.equal(events[1].type, 'update');
  assert.deepEqual(events[1].payload, { id: 't1', title: 'Buy milk', done: true }, 'update payload: the full row after');
  assert.deepEqual(events[1].changes, { done: true }, 'update changes: only the changed field');

  await todos.delete('t1').isPersisted.promise;
  events = await db.client.events();
  assert.equal(events.length, 3);
  assert.equal(events[2].type, 'delete');
  assert.deepEqual(events[2].payload, { id: 't1', title: 'Buy milk', done: true }, 'delete payload: the full row before');

  assert.equal(calls.length, 3, 'one capture per transaction');
  assert.equal(todos.has('t1'), false);
  assert.deepEqual((await db.history('todos', 't1')).map((e) => e.type), ['insert', 'update', 'delete']);
  assert.equal(db.status.pendingCount, 3);
  await db.dispose();
});

test('a transaction over two collections is one capture, all or nothing', async () => {
  const db = await open();
  const { todos, projects } = db.collections;
  const calls = spyCaptures(db);

  const tx = db.transaction(() => {
    projects.insert({ id: 'p1', name: 'Home' });
    todos.insert({ id: 't1', title: 'Paint', projectId: 'p1' });
  });
  await tx.isPersisted.promise;
  assert.equal(calls.length, 1, 'both collections in one capture call (one SQLite transaction)');
  assert.deepEqual(calls[0].map((m) => m.collection), ['projects', 'todos']);
  const events = await db.client.events();
  assert.deepEqual(events.map((e) => e.collectionId), ['projects', 'todos']);
  assert.equal(events[0].timestamp, events[1].timestamp, 'captured together');
  assert.deepEqual(plain(projects.get('p1')), { id: 'p1', name: 'Home' });

  // The second mutation is poisoned on its way to the core: neither event may exist.
  const poisoned = createTransaction({
    mutationFn: ({ transaction }) => {
      const [first, second] = transaction.mutations;
      return db.mutationFn({ transaction: { mutations: [first, { ...second, modified: 'not a row' }] } });
    },
  });
  poisoned.mutate(() => {
    projects.insert({ id: 'p2', name: 'Work' });
    todos.insert({ id: 't2', title: 'Report', projectId: 'p2' });
  });
  await assert.rejects(poisoned.isPersisted.promise, (e) => {
    assert.ok(e instanceof CaptureError, `a CaptureError, got ${e}`);
    assert.ok(e instanceof EventSourcedError);
    assert.equal(e.code, 'INVALID_MUTATION');
    assert.deepEqual([...e.collections].sort(), ['projects', 'todos']);
    return true;
  });
  assert.equal((await db.client.events()).length, 2, 'no event of the poisoned transaction');
  assert.equal(projects.has('p2'), false, 'rolled back');
  assert.equal(todos.has('t2'), false, 'rolled back');
  assert.deepEqual(await db.client.visibleRows('projects'), [{ key: 'p1', value: { id: 'p1', name: 'Home' } }]);
  await db.dispose();
});

test('a replayed remote change shows in a live query without calling any mutation handler', async () => {
  const server = fakeServer();
  const db = await open({ sync: server.transport, autoSync: false });
  const todos = db.collections.todos;
  const handlerCalls = [];
  for (const h of ['onInsert', 'onUpdate', 'onDelete']) {
    const original = todos.config[h];
    todos.config[h] = (p) => {
      handlerCalls.push(h);
      return original(p);
    };
  }
  const captures = spyCaptures(db);
  const open_ = createLiveQueryCollection({
    query: (q) => q.from({ todo: todos }).where(({ todo }) => eq(todo.done, false)),
  });
  await open_.preload();
  assert.equal(open_.size, 0);

  server.remote({ collectionId: 'todos', type: 'insert', key: 'r1', payload: { id: 'r1', title: 'From the laptop', done: false } });
  const result = await db.sync();
  assert.deepEqual({ pushed: result.pushed, pulled: result.pulled, errors: result.errors }, { pushed: 0, pulled: 1, errors: [] });
  assert.deepEqual(open_.toArray.map(plain), [{ id: 'r1', title: 'From the laptop', done: false }]);

  server.remote({ collectionId: 'todos', type: 'update', key: 'r1', payload: { id: 'r1', title: 'From the laptop', done: true } });
  await db.sync();
  assert.equal(open_.size, 0, 'the remote update moved it out of the query');
  assert.equal(todos.get('r1').done, true);

  server.remote({ collectionId: 'todos', type: 'delete', key: 'r1', payload: { id: 'r1', title: 'From the laptop', done: true } });
  await db.sync();
  assert.equal(todos.has('r1'), false);

  assert.deepEqual(handlerCalls, [], 'no mutation handler ran');
  assert.equal(captures.length, 0, 'nothing captured');
  assert.equal((await db.client.events({ origin: 'local' })).filter((e) => e.origin === 'local').length, 0);
  await open_.cleanup();
  await db.dispose();
});

test('a rejection rolls the row back and calls onEventRejected', async () => {
  const server = fakeServer();
  server.rejectIf = (e) => (e.payload.title === '' ? 'title must not be empty' : null);
  const rejected = [];
  const db = await open({ sync: server.transport, autoSync: false, onEventRejected: (r) => rejected.push(r) });
  const todos = db.collections.todos;
  await todos.insert({ id: 'ok', title: 'Fine', done: false }).isPersisted.promise;
  await todos.insert({ id: 'bad', title: '', done: false }).isPersisted.promise;
  assert.equal(todos.has('bad'), true, 'kept locally until the server refuses it');
  const log = db.eventLog;
  await log.preload();
  assert.deepEqual(log.toArray.map((e) => e.syncStatus).sort(), ['pending', 'pending']);

  const result = await db.sync();
  assert.equal(result.pushed, 1);
  assert.equal(result.rejected, 1);
  assert.equal(todos.has('bad'), false, 'rolled back');
  assert.equal(todos.has('ok'), true);
  assert.equal(rejected.length, 1);
  assert.equal(rejected[0].key, 'bad');
  assert.equal(rejected[0].reason, 'title must not be empty');
  assert.deepEqual((await db.rejections()).map((r) => r.key), ['bad']);
  assert.deepEqual(db.rejectionList.get().map((r) => r.key), ['bad']);
  const bySeq = () => [...log.toArray].sort((x, y) => x.seq - y.seq);
  await until('the event log to follow', () => bySeq().map((e) => e.syncStatus).join() === 'confirmed,rejected');
  assert.deepEqual(bySeq().map((e) => [e.key, e.rejectReason]), [['ok', null], ['bad', 'title must not be empty']]);
  assert.equal(await db.clearRejection(rejected[0].eventId), true);
  assert.equal(db.rejectionList.get().length, 0);
  await until('the pending count', () => db.status.pendingCount === 0);
  await db.dispose();
});

test('no flicker: the exact sequence of changes of insert, update and delete', async () => {
  const db = await open();
  const todos = db.collections.todos;
  const seen = [];
  todos.subscribeChanges((changes) => {
    for (const c of changes) seen.push([c.type, c.key, plain(c.value)]);
  });
  await todos.insert({ id: 'f1', title: 'a' }).isPersisted.promise;
  await todos.update('f1', (d) => {
    d.title = 'b';
  }).isPersisted.promise;
  await todos.delete('f1').isPersisted.promise;
  assert.deepEqual(seen, [
    ['insert', 'f1', { id: 'f1', title: 'a' }], // optimistic
    ['update', 'f1', { id: 'f1', title: 'a' }], // now synced: same row, no delete/re-insert
    ['update', 'f1', { id: 'f1', title: 'b' }],
    ['update', 'f1', { id: 'f1', title: 'b' }],
    ['delete', 'f1', { id: 'f1', title: 'b' }],
  ]);

  // A live query sees exactly one row appear, never a gap.
  const q = createLiveQueryCollection({ query: (qb) => qb.from({ t: todos }) });
  await q.preload();
  const sizes = [];
  q.subscribeChanges(() => sizes.push(q.size));
  await todos.insert({ id: 'f2', title: 'c' }).isPersisted.promise;
  await new Promise((r) => setTimeout(r, 20));
  assert.ok(sizes.length >= 1 && sizes.every((s) => s === 1), `sizes ${sizes}`);
  await q.cleanup();
  await db.dispose();
});

test('values that cannot be stored are refused at insert, naming the collection and the field', async () => {
  const db = await open();
  const todos = db.collections.todos;
  class Money {
    constructor(v) {
      this.v = v;
    }
  }
  const cyclic = { id: 'c' };
  cyclic.self = cyclic;
  const cases = [
    [{ id: 'a', meta: { onClick: () => 1 } }, 'meta.onClick', /function/],
    [{ id: 'b', tags: ['x', Symbol('s')] }, 'tags[1]', /symbol/],
    [{ id: 'c', big: 10n }, 'big', /BigInt/],
    [cyclic, 'self', /circular/],
    [{ id: 'd', price: new Money(3) }, 'price', /Money/],
    [{ id: 'e', when: new Date() }, 'when', /Date/],
    [{ id: 'f', ratio: NaN }, 'ratio', /finite/],
  ];
  for (const [row, path, what] of cases) {
    assert.throws(
      () => todos.insert(row),
      (e) => {
        assert.ok(e instanceof NotStorableError, `${path}: got ${e}`);
        assert.equal(e.code, 'NOT_SERIALIZABLE');
        assert.equal(e.collection, 'todos');
        assert.equal(e.path, path);
        assert.match(e.message, /^todos: field "/);
        assert.match(e.message, what);
        return true;
      },
    );
  }
  assert.equal(todos.size, 0, 'nothing became optimistic');
  await todos.insert({ id: 'ok', title: 'x' }).isPersisted.promise;
  assert.throws(
    () =>
      todos.update('ok', (d) => {
        d.fn = () => 0;
      }),
    NotStorableError,
  );
  assert.equal((await db.client.events()).length, 1);
  await db.dispose();
});

test('the event log shows every event of a log longer than one read', async () => {
  const db = await open();
  const rows = Array.from({ length: 2500 }, (_, i) => ({ id: `e${i}`, title: 'x' }));
  await db.collections.todos.insert(rows).isPersisted.promise;
  await db.eventLog.preload();
  assert.equal(db.eventLog.size, 2500);
  await db.collections.todos.insert(rows.map((r) => ({ ...r, id: `f${r.id}` }))).isPersisted.promise;
  await until('5000 events', () => db.eventLog.size === 5000);
  await db.dispose();
});

test('the event log reads what a capture appended, and the pending events again after a round', async () => {
  const server = fakeServer();
  const db = await open({ sync: server.transport, autoSync: false });
  const asked = [];
  const events = db.client.events.bind(db.client);
  db.client.events = (query) => {
    asked.push(query?.afterSeq);
    return events(query);
  };
  const pending = createLiveQueryCollection({
    query: (q) => q.from({ e: db.eventLog }).where(({ e }) => eq(e.syncStatus, 'pending')),
  });
  await pending.preload();
  for (const id of ['p1', 'p2', 'p3']) await db.collections.todos.insert({ id, title: id }).isPersisted.promise;
  await until('three pending events', () => pending.size === 3);
  const seqs = db.eventLog.toArray.map((e) => e.seq).sort((a, b) => a - b);
  asked.length = 0;
  await db.collections.todos.insert({ id: 'p4', title: 'p4' }).isPersisted.promise;
  await until('four pending events', () => pending.size === 4);
  // Not from the oldest pending event: a capture changes no event shown.
  assert.ok(asked.length > 0 && asked.every((a) => a === seqs[2]), `asked after ${asked}, newest shown ${seqs[2]}`);
  asked.length = 0;
  await db.sync();
  await until('no pending event', () => pending.size === 0);
  assert.ok(asked.includes(seqs[0] - 1), `a round reads from the oldest pending event; asked after ${asked}`);
  await pending.cleanup();
  await db.dispose();
});

test('status and the event log follow captures and sync', async () => {
  const server = fakeServer();
  const db = await open({ sync: server.transport, autoSync: false });
  const statuses = [];
  db.status.subscribe((s) => statuses.push(s));
  const pending = createLiveQueryCollection({
    query: (q) => q.from({ e: db.eventLog }).where(({ e }) => eq(e.syncStatus, 'pending')),
  });
  await pending.preload();
  await db.collections.todos.insert({ id: 's1', title: 'x' }).isPersisted.promise;
  await until('pending count 1', () => db.status.pendingCount === 1);
  await until('a pending event', () => pending.size === 1);
  const before = db.status.get();
  const result = await db.sync();
  assert.equal(result.pushed, 1);
  await until('pending count 0', () => db.status.pendingCount === 0);
  await until('no pending event', () => pending.size === 0);
  assert.ok(db.status.lastSyncAt > 0);
  assert.equal(db.status.lastError, null);
  assert.ok(statuses.some((s) => s.syncing), 'saw syncing');
  assert.notEqual(db.status.get(), before, 'a new snapshot object');
  assert.throws(() => db.eventLog.insert({ eventId: 'x' }), 'the event log is read-only');
  await pending.cleanup();
  await db.dispose();
});

test('the pending count is exact when a write resolves, with no read of its own', async () => {
  const db = await open({ autoSync: false });
  const ops = [];
  const request = db.client.request.bind(db.client);
  db.client.request = (r) => {
    ops.push(r.op);
    return request(r);
  };
  for (let i = 1; i <= 3; i++) {
    await db.collections.todos.insert({ id: `p${i}`, title: 'x' }).isPersisted.promise;
    assert.equal(db.status.pendingCount, i, `after write ${i}`);
  }
  await db.collections.todos.insert([{ id: 'p4', title: 'x' }, { id: 'p5', title: 'x' }]).isPersisted.promise;
  assert.equal(db.status.pendingCount, 5);
  assert.deepEqual([...new Set(ops)], ['capture'], 'the counts came with the answers');
  await db.dispose();
});

test('local-only: no sync configured', async () => {
  const db = await open();
  await db.collections.todos.insert({ id: 'l1' }).isPersisted.promise;
  assert.deepEqual(await db.sync(), { pushed: 0, pulled: 0, rejected: 0, errors: [] });
  await db.dispose();
});

const UUID_V7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

test('a capture sent again with the same event ids (a retry at a new leader) is applied once', async () => {
  const db = await open();
  const eventId = '01890a5d-ac96-774b-bcce-b302099a8057';
  const mutations = [{ collection: 'todos', type: 'insert', key: 'r1', modified: { id: 'r1', title: 'once' }, eventId }];
  const first = await db.client.capture(mutations);
  const again = await db.client.capture(mutations);
  const events = await db.client.events();
  assert.equal(events.length, 1, 'one event for two sends');
  assert.equal(events[0].eventId, eventId, 'recorded under the id the client gave');
  assert.deepEqual(first.map((c) => c.type), ['insert']);
  assert.deepEqual(
    again.map((c) => [c.type, c.key, c.value]),
    [['update', 'r1', { id: 'r1', title: 'once' }]],
    'the retry reports the row as it stands',
  );
  await db.dispose();
});

test('the client mints a UUIDv7 per mutation; a resent capture request is applied once and the rows show', async () => {
  const db = await open();
  const todos = db.collections.todos;
  // Every capture request goes to the host twice, as when the first leader
  // committed it and vanished before answering: the answer is the second one's.
  const sent = [];
  const request = db.client.request.bind(db.client);
  db.client.request = async (r) => {
    if (r.op !== 'capture') return request(r);
    // Objects, or JSON text for a large capture.
    sent.push(typeof r.mutations === 'string' ? JSON.parse(r.mutations) : r.mutations);
    await request(r);
    return request(r);
  };
  const t0 = Date.now();
  await todos.insert({ id: 'm1', title: 'first' }).isPersisted.promise;
  // The retry answered `update` for a key the collection did not hold: written as an insert.
  assert.deepEqual(plain(todos.get('m1')), { id: 'm1', title: 'first' });
  await todos.update('m1', (d) => {
    d.title = 'second';
  }).isPersisted.promise;
  assert.deepEqual(plain(todos.get('m1')), { id: 'm1', title: 'second' });
  db.transaction(() => {
    todos.insert({ id: 'm2', title: 'a' });
    todos.insert({ id: 'm3', title: 'b' });
  });
  await until('m2 and m3', () => todos.has('m2') && todos.has('m3'));
  await todos.delete('m1').isPersisted.promise;
  assert.equal(todos.has('m1'), false);

  const events = await db.client.events();
  assert.deepEqual(
    events.map((e) => `${e.type}:${e.key}`),
    ['insert:m1', 'update:m1', 'insert:m2', 'insert:m3', 'delete:m1'],
    'each mutation once',
  );
  assert.deepEqual(events.map((e) => e.eventId), sent.flat().map((m) => m.eventId), 'recorded under the client\'s ids');
  for (const e of events) {
    assert.match(e.eventId, UUID_V7);
    const ms = parseInt(e.eventId.replaceAll('-', '').slice(0, 12), 16);
    assert.ok(ms >= t0 && ms <= Date.now(), 'the id carries the time of the capture');
  }
  assert.equal(new Set(events.map((e) => e.eventId)).size, events.length, 'distinct ids');
  await db.dispose();
});

test('autoSync: { paused: true } opens with sync paused: nothing runs until resumeSync', async () => {
  const server = fakeServer();
  let pushes = 0;
  const push = server.transport.push;
  server.transport.push = (events) => {
    pushes++;
    return push(events);
  };
  server.remote({ collectionId: 'todos', type: 'insert', key: 'remote', payload: { id: 'remote', title: 'from elsewhere' } });
  const db = await open({ sync: server.transport, autoSync: { paused: true, debounceMs: 5, intervalMs: 20 } });
  assert.equal(db.status.paused, true);
  await db.collections.todos.insert({ id: 'p1', title: 'while paused' }).isPersisted.promise;
  await new Promise((r) => setTimeout(r, 150));
  assert.equal(pushes, 0, 'no round while paused');
  assert.equal(db.collections.todos.has('remote'), false, 'nothing pulled while paused');
  assert.equal(db.status.pendingCount, 1);
  db.resumeSync();
  assert.equal(db.status.paused, false);
  await until('the push', () => db.status.pendingCount === 0 && db.collections.todos.has('remote'));
  assert.ok(pushes >= 1);
  await db.dispose();
});

test('collection definitions pass TanStack options through (gcTime, startSync, autoIndex, defaultIndexType, compare)', async () => {
  const compare = (a, b) => a.title.localeCompare(b.title);
  const db = await createEventSourcedDB({
    name: `node-${++n}`,
    collections: {
      todos: { getKey: (t) => t.id, autoIndex: 'eager', defaultIndexType: BasicIndex, gcTime: 60_000, compare },
      projects: { getKey: (p) => p.id, startSync: false },
    },
  });
  const { todos, projects } = db.collections;
  assert.equal(todos.config.autoIndex, 'eager');
  assert.equal(todos.config.defaultIndexType, BasicIndex);
  assert.equal(todos.config.gcTime, 60_000);
  assert.equal(todos.config.compare, compare);
  assert.equal(todos.config.startSync, true, 'the binding default');
  assert.equal(todos.isReady(), true);
  assert.equal(projects.config.startSync, false);
  assert.equal(projects.config.gcTime, 0, 'the binding default');
  assert.equal(typeof projects.config.sync.sync, 'function', 'the binding keeps its own sync');
  // Not loaded at open: it hydrates on first use, with what the core has.
  assert.equal(projects.isReady(), false);
  await db.client.capture([{ collection: 'projects', type: 'insert', key: 'p1', modified: { id: 'p1', name: 'Home' } }]);
  await projects.preload();
  assert.deepEqual(plain(projects.get('p1')), { id: 'p1', name: 'Home' });
  await projects.insert({ id: 'p2', name: 'Work' }).isPersisted.promise;
  assert.deepEqual(projects.toArray.map((p) => p.id).sort(), ['p1', 'p2']);
  // An eager auto-index serves an equality query.
  await todos.insert([{ id: 'a', title: 'b' }, { id: 'b', title: 'a' }]).isPersisted.promise;
  const q = createLiveQueryCollection({ query: (qb) => qb.from({ t: todos }).where(({ t }) => eq(t.title, 'a')) });
  await q.preload();
  assert.deepEqual(q.toArray.map((t) => t.id), ['b']);
  await q.cleanup();
  await db.dispose();
});


test('one insert of 10k rows is one capture of 10k events (ids minted past the randomness API limit)', async () => {
  const db = await open();
  const calls = spyCaptures(db);
  const rows = Array.from({ length: 10_000 }, (_, i) => ({ id: `bulk-${i}`, title: `row ${i}`, done: false }));
  await db.collections.todos.insert(rows).isPersisted.promise;
  assert.equal(calls.length, 1);
  const events = await db.client.events({ limit: 20_000 });
  assert.equal(new Set(events.map((e) => e.eventId)).size, 10_000, 'every mutation has its own event id');
  assert.equal(db.status.pendingCount, 10_000);
  assert.equal(db.collections.todos.size, 10_000);
  await db.dispose();
});

test('hydration pages carry the rows without their keys; keyed pages (an older leader) hydrate the same', async () => {
  for (const olderHost of [false, true]) {
    const db = await open({ collections: { todos: { getKey: (t) => t.id }, projects: { getKey: (p) => p.id, startSync: false } } });
    const n = 2_500; // more than the first page
    await db.client.capture(Array.from({ length: n }, (_, i) => ({ collection: 'projects', type: 'insert', key: `p${i}`, modified: { id: `p${i}`, n: i } })));
    const answers = [];
    const request = db.client.request.bind(db.client);
    db.client.request = async (r) => {
      if (r.op !== 'visibleRows') return request(r);
      assert.equal(r.valuesOnly, true, 'hydration asks for values only');
      // A host from before `valuesOnly` ignores it and answers keyed rows.
      const page = await request(olderHost ? { ...r, valuesOnly: undefined } : r);
      answers.push(page);
      return page;
    };
    await db.collections.projects.preload();
    assert.ok(answers.length >= 2, `${answers.length} page(s)`);
    for (const page of answers) {
      if (olderHost) assert.equal(page.values, undefined);
      else assert.equal(page.rows, undefined);
      const rows = JSON.parse(page.values ?? page.rows);
      const first = olderHost ? rows[0].value : rows[0];
      assert.deepEqual(Object.keys(first).sort(), ['id', 'n'], 'a value is the row itself');
    }
    assert.equal(db.collections.projects.size, n);
    assert.deepEqual(plain(db.collections.projects.get('p2499')), { id: 'p2499', n: 2499 });
    // The keyed form is still there for whoever needs the keys.
    db.client.request = request;
    const keyed = await db.client.visibleRows('projects');
    assert.equal(keyed.length, n);
    assert.deepEqual(keyed[0], { key: 'p0', value: { id: 'p0', n: 0 } });
    await db.dispose();
  }
});

test('a keyed page answered without its rows is a typed error, not an empty list', async () => {
  const db = await open();
  await db.collections.todos.insert({ id: 't1', title: 'one' }).isPersisted.promise;
  const request = db.client.request.bind(db.client);
  // A broken host answers the keyed read in the values-only shape.
  db.client.request = async (r) => (r.op === 'visibleRows' ? { values: '[]', next: null } : request(r));
  await assert.rejects(db.client.visibleRows('todos'), (e) => e.name === 'EventSourcedError' && e.code === 'INTERNAL');
  db.client.request = request;
  assert.equal((await db.client.visibleRows('todos')).length, 1, 'nothing was lost');
  await db.dispose();
});

test('a collection hydrates page by page; changes that arrive meanwhile land after the snapshot', async () => {
  const server = fakeServer();
  const db = await open({
    sync: server.transport,
    autoSync: false,
    collections: { todos: { getKey: (t) => t.id }, projects: { getKey: (p) => p.id, startSync: false } },
  });
  const n = 4_500; // more than one hydration page
  await db.client.capture(Array.from({ length: n }, (_, i) => ({ collection: 'projects', type: 'insert', key: `p${i}`, modified: { id: `p${i}`, n: i } })));
  assert.equal((await db.sync()).pushed, n);
  server.remote({ collectionId: 'projects', type: 'update', key: `p${n - 1}`, payload: { id: `p${n - 1}`, n: -1 } });
  server.remote({ collectionId: 'projects', type: 'delete', key: 'p0', payload: { id: 'p0', n: 0 } });
  const pages = [];
  const request = db.client.request.bind(db.client);
  db.client.request = (r) => {
    if (r.op === 'visibleRows') pages.push(r.limit);
    return request(r);
  };
  // The round's changes reach the collection while its pages are still coming.
  const { projects } = db.collections;
  const loaded = projects.preload();
  const round = db.sync();
  await Promise.all([loaded, round]);
  assert.ok(pages.length >= 2, `hydrated in ${pages.length} page(s)`);
  assert.equal(projects.size, n - 1);
  assert.equal(projects.get('p0'), undefined);
  assert.deepEqual(plain(projects.get(`p${n - 1}`)), { id: `p${n - 1}`, n: -1 });
  assert.deepEqual(plain(projects.get('p1')), { id: 'p1', n: 1 });
  await db.dispose();
});
