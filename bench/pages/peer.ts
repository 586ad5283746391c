// The peer: TanStack DB's own browser persistence (wa-sqlite on OPFS in its
// worker), a local-only persisted collection, used as its README shows.
import { createCollection, type Collection } from '@tanstack/db';
import {
  createBrowserWASQLitePersistence,
  openBrowserWASQLiteOPFSDatabase,
  persistedCollectionOptions,
} from '@tanstack/browser-db-sqlite-persistence';
import { now, ready, row, rows, type Row, FILL_BATCH } from './rows';

let database: Awaited<ReturnType<typeof openBrowserWASQLiteOPFSDatabase>> | null = null;
let todos: Collection<Row, string> | null = null;
const need = () => todos ?? (() => { throw new Error('open() first'); })();

ready({
  async open(name: string) {
    const t0 = now();
    database = await openBrowserWASQLiteOPFSDatabase({ databaseName: `${name}.sqlite` });
    const persistence = createBrowserWASQLitePersistence({ database });
    todos = createCollection(
      persistedCollectionOptions<Row, string>({ id: 'todos', getKey: (t) => t.id, persistence, schemaVersion: 1 }),
    ) as unknown as Collection<Row, string>;
    await todos.preload();
    return { ms: now() - t0, rows: todos.size };
  },
  async fill(n: number) {
    for (let i = 0; i < n; i += FILL_BATCH) await need().insert(rows('r', i, Math.min(n, i + FILL_BATCH))).isPersisted.promise;
  },
  async latency(prefix: string, warm: number, n: number) {
    const c = need();
    const out: number[] = [];
    for (let i = 0; i < warm + n; i++) {
      const t = now();
      await c.insert(row(prefix, i)).isPersisted.promise;
      if (i >= warm) out.push(now() - t);
    }
    return out;
  },
  /** Case 2, batched: n rows in one insert([...]) call, until persisted. */
  async insertMany(prefix: string, n: number) {
    const batch = rows(prefix, 0, n);
    const t0 = now();
    await need().insert(batch).isPersisted.promise;
    return { ms: now() - t0 };
  },
  async burst(prefix: string, n: number) {
    const c = need();
    const t0 = now();
    const txs = [];
    for (let i = 0; i < n; i++) txs.push(c.insert(row(prefix, i)));
    const issuedMs = now() - t0;
    await Promise.all(txs.map((t) => t.isPersisted.promise));
    return { ms: now() - t0, issuedMs };
  },
  async close() {
    await todos?.cleanup();
    await database?.close?.();
    todos = null;
    database = null;
  },
});
