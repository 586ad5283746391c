// The floor: the same rows through raw SQLite in a dedicated worker (no
// events, no TanStack), driven by the same calls as the other pages.
import { Arrivals, abs, now, ready, row, rows, type Row, FILL_BATCH } from './rows';

let worker: Worker | null = null;
let seq = 0;
const pending = new Map<number, { resolve: (v: any) => void; reject: (e: Error) => void }>();
let onRows: (rows: Row[]) => void = () => {};
const arrivals = new Arrivals();
// The rows stay referenced, as a collection holds them (case 6 reads the heap).
let held: Row[] = [];

function call<T = unknown>(op: string, args?: unknown): Promise<T> {
  const id = ++seq;
  return new Promise((resolve, reject) => {
    pending.set(id, { resolve, reject });
    worker!.postMessage({ id, op, args });
  });
}

/**
 * Starts the worker and, meanwhile, compiles the floor's wasm on the page
 * (as ours does: from the code cache on later loads) and hands it over.
 */
async function start(): Promise<void> {
  const compiled = WebAssembly.compileStreaming(fetch('/floor/eventsourced_bench_floor_bg.wasm')).catch(() => null);
  await started();
  const module = await compiled;
  if (module) worker!.postMessage({ module });
}

function started(): Promise<void> {
  return new Promise((resolve, reject) => {
    worker = new Worker('/floor/worker.js', { type: 'module' });
    worker.onerror = (e) => reject(new Error(`floor worker: ${e.message}`));
    worker.onmessage = ({ data }) => {
      if (data.ready) return resolve();
      if (data.rows) return onRows(data.rows);
      const p = pending.get(data.id)!;
      pending.delete(data.id);
      if (data.error) p.reject(new Error(data.error));
      else p.resolve(data.result);
    };
  });
}

ready({
  /** Cold start: new worker, wasm, OPFS open, every row read and parsed on the main thread. */
  async open(name: string) {
    const t0 = now();
    await start();
    await call('open', { name });
    held = JSON.parse(await call<string>('readAll'));
    return { ms: now() - t0, rows: held.length };
  },
  async fill(n: number) {
    for (let i = 0; i < n; i += FILL_BATCH) await call('put', { rows: rows('r', i, Math.min(n, i + FILL_BATCH)) });
  },
  /** Case 1: one row per transaction, awaited from the main thread. */
  async latency(prefix: string, warm: number, n: number) {
    const out: number[] = [];
    for (let i = 0; i < warm + n; i++) {
      const t = now();
      await call('put', { rows: [row(prefix, i)] });
      if (i >= warm) out.push(now() - t);
    }
    return out;
  },
  /** Case 2's floor: the n rows in one transaction (what coalescing can at best achieve). */
  async burst(prefix: string, n: number) {
    const t0 = now();
    await call('put', { rows: rows(prefix, 0, n) });
    return { ms: now() - t0, issuedMs: 0 };
  },
  async insertMany(prefix: string, n: number) {
    const batch = rows(prefix, 0, n);
    const t0 = now();
    await call('put', { rows: batch });
    return { ms: now() - t0 };
  },
  async pull(n: number, server: string) {
    let count = 0;
    const t0 = now();
    const seen = new Promise<number>((resolve) => {
      onRows = (r) => {
        count += r.length;
        if (count >= n) resolve(now() - t0);
      };
    });
    const pulled = await call<number>('pull', { server, limit: 1000 });
    return { ms: await seen, pulled, rows: count };
  },
  async watch(server: string) {
    onRows = (r) => {
      const t = abs();
      for (const x of r) arrivals.note(x.id, t);
    };
    await call('tail', { server });
  },
  arrived: (id: string) => arrivals.wait(id),
  write(id: string, server: string) {
    const t = abs();
    void call('write', { server, row: { id, title: `rt ${id}`, done: false, createdAt: Date.now() } });
    return t;
  },
  async close() {
    held = [];
    if (!worker) return;
    await call('close');
    worker.terminate();
    worker = null;
  },
});
