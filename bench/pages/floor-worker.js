// The floor's dedicated worker: raw SQLite (bench/floor) and nothing else.
// Requests { id, op, args } get { id, result | error }; pulled or tailed rows
// are posted as { rows } as soon as they are stored.
import init, { Floor } from './eventsourced_bench_floor.js';

let wasm = null;
let db = null;
let precompiled = null; // the wasm compiled by the page while this worker started
const need = () => db ?? (() => { throw new Error('open first'); })();
const put = (rows) => need().putMany(rows.map((r) => r.id), rows.map((r) => JSON.stringify(r)));

const ops = {
  async open({ name }) {
    wasm ??= await init({ module_or_path: precompiled ?? new URL('./eventsourced_bench_floor_bg.wasm', import.meta.url) });
    self.__benchWasmMemories = [wasm.memory]; // read by the runner (case 6)
    db = await Floor.open(name);
  },
  /** Every row as JSON text: the main thread parses it once (cheaper than cloning 100k objects). */
  readAll: () => need().readAll(),
  put: ({ rows }) => put(rows),
  /** Case 4: pull every page, store each in one transaction, hand its rows to the page. */
  async pull({ server, limit }) {
    let since = '0';
    let total = 0;
    for (;;) {
      const r = await fetch(`${server}/api/events?since=${since}&limit=${limit}`);
      const page = await r.json();
      const rows = page.events.map((e) => e.payload);
      put(rows);
      self.postMessage({ rows });
      total += rows.length;
      since = page.cursor;
      if (!page.hasMore) return total;
    }
  },
  /** Case 5, device A: store the row, then push its event. */
  async write({ server, row }) {
    put([row]);
    const event = { eventId: crypto.randomUUID(), collectionId: 'todos', type: 'insert', key: row.id, payload: row, timestamp: Date.now() };
    const r = await fetch(`${server}/api/events`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify([event]) });
    if (!r.ok) throw new Error(`push: ${r.status}`);
  },
  /** Case 5, device B: the SSE live tail; each event is stored and handed on. Runs until the worker ends. */
  tail({ server }) {
    (async () => {
      const res = await fetch(`${server}/api/events/stream?since=0`, { headers: { accept: 'text/event-stream' } });
      const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
      let buffer = '';
      for (;;) {
        const { value, done } = await reader.read();
        if (done) return;
        buffer += value;
        let end;
        while ((end = buffer.indexOf('\n\n')) >= 0) {
          const message = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          const data = message.split('\n').filter((l) => l.startsWith('data:')).map((l) => l.slice(5)).join('\n');
          if (!data) continue;
          const row = JSON.parse(data).payload;
          put([row]);
          self.postMessage({ rows: [row] });
        }
      }
    })().catch((e) => console.error('floor tail:', e));
  },
  close() {
    db?.close();
    db = null;
  },
};

self.onmessage = async ({ data: { id, op, args, module } }) => {
  if (module) {
    precompiled = module;
    return;
  }
  try {
    self.postMessage({ id, result: await ops[op](args ?? {}) });
  } catch (e) {
    self.postMessage({ id, error: String(e?.message ?? e) });
  }
};
self.postMessage({ ready: true });
