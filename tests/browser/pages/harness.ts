// The test page's API: Playwright calls these through `window.harness`.
// Bundled by esbuild like an app would bundle it; imports the built package.
import { createCollection, createLiveQueryCollection, eq } from '@tanstack/db';
import { createEventSourcedDB, type EventSourcedDB } from '@eventsourced/db';

type Todo = { id: string; title: string; done: boolean; createdAt: number };
const defs = { todos: { getKey: (t: Todo) => t.id } };
type DB = EventSourcedDB<typeof defs>;

const params = new URLSearchParams(location.search);
const server = params.get('server') ?? 'http://127.0.0.1:8787';
let db: DB | null = null;

function need(): DB {
  if (!db) throw new Error('open() first');
  return db;
}
const plain = (t: Todo) => ({ id: t.id, title: t.title, done: t.done });

const harness = {
  async open(name: string, options: { autoSync?: boolean; pullLimit?: number } = {}) {
    const t0 = performance.now();
    db = await createEventSourcedDB({
      name,
      sync: { push: `${server}/api/events`, pull: `${server}/api/events` },
      collections: defs,
      autoSync: options.autoSync === false ? false : { debounceMs: 20, backoffBaseMs: 200, backoffMaxMs: 1000 },
      ...(options.pullLimit !== undefined && { syncOptions: { pullLimit: options.pullLimit } }),
    });
    return { ms: performance.now() - t0, rows: db.collections.todos.size, storage: db.client.info.storage };
  },
  async insert(id: string, title: string) {
    await need().collections.todos.insert({ id, title, done: false, createdAt: Date.now() }).isPersisted.promise;
  },
  async insertMany(prefix: string, count: number, batch = 10_000) {
    for (let i = 0; i < count; i += batch) {
      const rows: Todo[] = [];
      for (let j = i; j < Math.min(count, i + batch); j++) {
        rows.push({ id: `${prefix}${j}`, title: `row ${j}`, done: j % 2 === 0, createdAt: j });
      }
      await need().collections.todos.insert(rows).isPersisted.promise;
    }
  },
  async update(id: string, done: boolean) {
    await need().collections.todos.update(id, (d) => {
      d.done = done;
    }).isPersisted.promise;
  },
  rows() {
    return need().collections.todos.toArray.map(plain).sort((a, b) => a.id.localeCompare(b.id));
  },
  async pendingEvents() {
    const log = need().eventLog;
    await log.preload();
    return log.toArray.filter((e) => e.syncStatus === 'pending').map((e) => ({ key: e.key, type: e.type }));
  },
  status() {
    const s = need().status.get();
    return { online: s.online, syncing: s.syncing, pendingCount: s.pendingCount, lastSyncAt: s.lastSyncAt, lastError: s.lastError?.message ?? null };
  },
  async sync() {
    const r = await need().sync();
    return { pushed: r.pushed, pulled: r.pulled, errors: r.errors.map((e) => e.message) };
  },
  /** Time for `count` pulled remote events to show in a live query. */
  async timePull(count: number) {
    const d = need();
    const q = createLiveQueryCollection({ query: (qb) => qb.from({ t: d.collections.todos }).where(({ t }) => eq(t.done, false)) });
    await q.preload();
    const t0 = performance.now();
    const seen = new Promise<number>((resolve) => {
      const check = () => {
        if (d.collections.todos.size >= count) resolve(performance.now() - t0);
      };
      q.subscribeChanges(check);
      check();
    });
    const result = await d.sync();
    const ms = await seen;
    const size = q.size;
    await q.cleanup();
    return { ms, pulled: result.pulled, liveQueryRows: size };
  },
  async dispose() {
    await db?.dispose();
    db = null;
  },
};

(window as unknown as { harness: typeof harness }).harness = harness;
document.body.dataset.ready = 'true';

// Profiling aid for the benchmark: where cold start time goes.
(window as unknown as { profile: unknown }).profile = {
  async breakdown(name: string) {
    const { CoreClient } = await import('@eventsourced/db');
    const { createCollection } = await import('@tanstack/db');
    const t0 = performance.now();
    const client = await CoreClient.open(name, {});
    const t1 = performance.now();
    // As hydration reads them: pages of rows without their keys.
    const rows: Todo[] = [];
    await client.visibleRowPages('todos', (page) => {
      for (const r of page) rows.push(r as Todo);
    });
    const t2 = performance.now();
    const c = createCollection<Todo, string>({
      getKey: (t) => t.id,
      startSync: true,
      sync: {
        sync: ({ begin, write, commit, markReady }) => {
          begin();
          for (const r of rows) write({ type: 'insert', value: r });
          commit();
          markReady();
        },
      },
    });
    await c.preload();
    const t3 = performance.now();
    await client.close();
    return { open: t1 - t0, visibleRows: t2 - t1, tanstack: t3 - t2, rows: rows.length };
  },
};
/**
 * A cold start's milestones as the page sees them, in ms after `open` was
 * called: the Web Lock granted, the worker created, the compiled wasm
 * handed to it, the open answered, the first rows received, and every
 * collection ready. Wraps `Worker` and `navigator.locks` for this one open.
 */
(window as unknown as { profile: { coldTimeline: unknown } }).profile.coldTimeline = async (name: string) => {
  const at: Record<string, number> = {};
  const t0 = performance.now();
  const mark = (what: string) => {
    at[what] ??= performance.now() - t0;
  };
  const ops = new Map<number, string>();
  const NativeWorker = window.Worker;
  const locks = navigator.locks;
  const request = locks.request;
  type Message = { type?: string; batch?: Array<{ id: number; request?: { op?: string } }> };
  class TimedWorker extends NativeWorker {
    constructor(url: string | URL, options?: WorkerOptions) {
      mark('worker created');
      super(url, options);
      // Registered before the client's own listener: it runs first.
      this.addEventListener('message', (e: MessageEvent<Message>) => {
        if (e.data?.type !== 'responses') return;
        for (const r of e.data.batch ?? []) {
          const op = ops.get(r.id);
          if (op) mark(op);
        }
      });
    }
    override postMessage(message: Message, transfer?: Transferable[] | StructuredSerializeOptions): void {
      if (message?.type === 'wasmModule') mark('wasm handed over');
      for (const e of message?.batch ?? []) {
        if (e.request?.op === 'open') ops.set(e.id, 'open answered');
        if (e.request?.op === 'visibleRows') ops.set(e.id, 'first rows');
      }
      super.postMessage(message, transfer as StructuredSerializeOptions);
    }
  }
  window.Worker = TimedWorker;
  locks.request = ((lockName: string, options: LockOptions, callback: LockGrantedCallback<unknown>) =>
    request.call(locks, lockName, options, (lock) => {
      mark('lock granted');
      return callback(lock);
    })) as typeof locks.request;
  try {
    const r = await harness.open(name, { autoSync: false });
    mark('ready');
    return { ...at, rows: r.rows };
  } finally {
    window.Worker = NativeWorker;
    locks.request = request;
  }
};
/**
 * TanStack DB alone: `n` rows written through a collection's sync in
 * `commits` commits, under the live query of `timePull`; with `pre` other
 * rows in the collection (and through the live query) first, as in an app in use.
 */
(window as unknown as { profile: { tanstackAlone: unknown } }).profile.tanstackAlone = async (n: number, commits: number, pre = 0) => {
  let sync: { begin: () => void; write: (m: { type: 'insert'; value: Todo }) => void; commit: () => void } | null = null;
  const c = createCollection<Todo, string>({
    id: `alone-${Math.random()}`,
    getKey: (t) => t.id,
    startSync: true,
    sync: {
      sync: (params) => {
        sync = params;
        params.markReady();
      },
    },
  });
  await c.preload();
  const q = createLiveQueryCollection({ query: (qb) => qb.from({ t: c }).where(({ t }) => eq(t.done, false)) });
  await q.preload();
  const s = sync!;
  const per = Math.ceil(n / commits);
  for (let i = 0; i < pre; i += per) {
    s.begin();
    for (let j = i; j < Math.min(pre, i + per); j++) s.write({ type: 'insert', value: { id: `o${j}`, title: `remote ${j}`, done: false, createdAt: j } });
    s.commit();
  }
  const rows: Todo[] = Array.from({ length: n }, (_, j) => ({ id: `p${j}`, title: `remote ${j}`, done: false, createdAt: j }));
  const t0 = performance.now();
  for (let i = 0; i < n; i += per) {
    s.begin();
    for (let j = i; j < Math.min(n, i + per); j++) s.write({ type: 'insert', value: rows[j] });
    s.commit();
  }
  const ms = performance.now() - t0;
  if (q.size !== n + pre) throw new Error(`live query has ${q.size} rows`);
  await q.cleanup();
  await c.cleanup();
  return ms;
};
/**
 * A sync whose subscriber keeps the page thread busy `busyMs` per changes
 * notification: what arrives, in what order, in how many notifications.
 */
(window as unknown as { slowPull: unknown }).slowPull = async (server: string, pageSize: number, busyMs: number) => {
  const { CoreClient } = await import('@eventsourced/db');
  const client = await CoreClient.open(`slow-${Math.random()}`, {});
  const keys: string[] = [];
  let notifications = 0;
  client.subscribe((n) => {
    if (n.kind !== 'changes') return;
    notifications++;
    for (const c of n.changes) keys.push(String(c.key));
    const end = performance.now() + busyMs;
    while (performance.now() < end) {
      // The page thread is busy (a slow render, say).
    }
  });
  const r = await client.sync({ push: `${server}/api/events`, pull: `${server}/api/events` }, { pullLimit: pageSize });
  await client.close();
  return { pulled: r.pulled, keys, notifications };
};
(window as unknown as { profilePull: unknown }).profilePull = async (server: string, count: number) => {
  const { CoreClient } = await import('@eventsourced/db');
  const client = await CoreClient.open(`pp-${Math.random()}`, {});
  let changes = 0;
  let firstAt = 0;
  let lastAt = 0;
  client.subscribe((n) => {
    if (n.kind === 'changes') {
      if (!firstAt) firstAt = performance.now();
      changes += n.changes.length;
      lastAt = performance.now();
    }
  });
  const t0 = performance.now();
  const r = await client.sync({ push: `${server}/api/events`, pull: `${server}/api/events` }, { pullLimit: 1000 });
  const t1 = performance.now();
  await client.close();
  return { total: t1 - t0, firstChangeAt: firstAt - t0, lastChangeAt: lastAt - t0, changes, pulled: r.pulled, count };
};
