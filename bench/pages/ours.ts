// @eventsourced/db as an app uses it: createEventSourcedDB, TanStack collections.
import { createLiveQueryCollection, eq } from '@tanstack/db';
import { createEventSourcedDB, type EventSourcedDB } from '@eventsourced/db';
import { Arrivals, abs, now, ready, row, rows, type Row, FILL_BATCH } from './rows';

const defs = { todos: { getKey: (t: Row) => t.id } };
let db: EventSourcedDB<typeof defs> | null = null;
const arrivals = new Arrivals();
let watched: { cleanup(): Promise<void> } | null = null;
const need = () => db ?? (() => { throw new Error('open() first'); })();

ready({
  /** Cold start: from nothing (new worker, wasm, OPFS open) to every collection ready. */
  async open(name: string, o: { server?: string; autoSync?: boolean | { debounceMs: number }; pullLimit?: number } = {}) {
    const t0 = now();
    db = await createEventSourcedDB({
      name,
      collections: defs,
      ...(o.server && { sync: { push: `${o.server}/api/events`, pull: `${o.server}/api/events` } }),
      ...(o.server && { autoSync: o.autoSync ?? false }),
      ...(o.pullLimit && { syncOptions: { pullLimit: o.pullLimit } }),
    });
    return { ms: now() - t0, rows: db.collections.todos.size };
  },
  /** Untimed setup: n rows in batches of 10k. */
  async fill(n: number) {
    for (let i = 0; i < n; i += FILL_BATCH) await need().collections.todos.insert(rows('r', i, Math.min(n, i + FILL_BATCH))).isPersisted.promise;
  },
  /** Case 1: one insert at a time, each awaited until its handler resolved (durable). */
  async latency(prefix: string, warm: number, n: number) {
    const c = need().collections.todos;
    const out: number[] = [];
    for (let i = 0; i < warm + n; i++) {
      const t = now();
      await c.insert(row(prefix, i)).isPersisted.promise;
      if (i >= warm) out.push(now() - t);
    }
    return out;
  },
  /** Case 2: n separate insert calls in one go, until every one is persisted. */
  /** Case 2, batched: n rows in one insert([...]) call, until persisted. */
  async insertMany(prefix: string, n: number) {
    const batch = rows(prefix, 0, n);
    const t0 = now();
    await need().collections.todos.insert(batch).isPersisted.promise;
    return { ms: now() - t0 };
  },
  async burst(prefix: string, n: number) {
    const c = need().collections.todos;
    const t0 = now();
    const txs = [];
    for (let i = 0; i < n; i++) txs.push(c.insert(row(prefix, i)));
    const issuedMs = now() - t0;
    await Promise.all(txs.map((t) => t.isPersisted.promise));
    return { ms: now() - t0, issuedMs };
  },
  /** Case 4: one sync round pulls n remote events; timed until a live query shows them all. */
  async pull(n: number) {
    const d = need();
    const q = createLiveQueryCollection({ query: (qb) => qb.from({ t: d.collections.todos }).where(({ t }) => eq(t.done, false)) });
    await q.preload();
    const t0 = now();
    const seen = new Promise<number>((resolve) => {
      const check = () => q.size >= n && resolve(now() - t0);
      q.subscribeChanges(check);
      check();
    });
    const r = await d.sync();
    const ms = await seen;
    const size = q.size;
    await q.cleanup();
    return { ms, pulled: r.pulled, rows: size };
  },
  /** Case 5, device B: a live query that notes when each row shows up. */
  async watch() {
    const d = need();
    const q = createLiveQueryCollection({ query: (qb) => qb.from({ t: d.collections.todos }).where(({ t }) => eq(t.done, false)) });
    await q.preload();
    watched = q;
    q.subscribeChanges((changes) => {
      const t = abs();
      for (const c of changes) if (c.type === 'insert') arrivals.note((c.value as Row).id, t);
    });
  },
  arrived: (id: string) => arrivals.wait(id),
  /** Case 5, device A: the write (not awaited: the clock starts at the call). */
  write(id: string) {
    const t = abs();
    need().collections.todos.insert({ id, title: `rt ${id}`, done: false, createdAt: Date.now() });
    return t;
  },
  async close() {
    await watched?.cleanup(); // before the source collection goes
    watched = null;
    await db?.dispose();
    db = null;
  },
});
