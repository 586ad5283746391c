// The multi-tab test page's API (`window.tabs`): each page is one tab of the
// same app. Writes report their acknowledgement to the test through
// `window.ack` (a Playwright binding), so writes of a tab that is then
// closed or reloaded are still accounted for.
import { createEventSourcedDB, type EventSourcedDB } from '@eventsourced/db';

type Todo = { id: string; title: string; tab: string };
const defs = { todos: { getKey: (t: Todo) => t.id } };
type DB = EventSourcedDB<typeof defs>;

const params = new URLSearchParams(location.search);
const server = params.get('server');
const tab = params.get('tab') ?? '?';
let db: DB | null = null;
let writing: { stop: boolean; done: Promise<void>; written: number; errors: string[] } | null = null;

const w = window as unknown as { ack?: (id: string) => Promise<void>; tabs: typeof tabs };

function need(): DB {
  if (!db) throw new Error('open() first');
  return db;
}

const tabs = {
  async open(name: string) {
    const t0 = performance.now();
    db = await createEventSourcedDB({
      name,
      collections: defs,
      ...(server && {
        sync: { push: `${server}/api/events`, pull: `${server}/api/events` },
        autoSync: { debounceMs: 20, backoffBaseMs: 100, backoffMaxMs: 500 },
      }),
    });
    return { ms: performance.now() - t0, isLeader: db.client.isLeader };
  },
  isOpen(): boolean {
    return db !== null;
  },
  isLeader(): boolean {
    return db?.client.isLeader ?? false;
  },
  /** Inserts `<prefix>-0, -1, …` one after another until `stop`, or `count` rows. */
  startWriting(prefix: string, gapMs: number, count = Infinity) {
    const state = { stop: false, done: Promise.resolve(), written: 0, errors: [] as string[] };
    state.done = (async () => {
      for (let i = 0; i < count && !state.stop; i++) {
        const id = `${prefix}-${String(i).padStart(4, '0')}`;
        try {
          await need().collections.todos.insert({ id, title: `written by ${tab}`, tab }).isPersisted.promise;
          state.written++;
          await w.ack?.(id);
        } catch (e) {
          state.errors.push(`${id}: ${e instanceof Error ? `${e.name}: ${e.message}` : String(e)}`);
        }
        if (gapMs > 0) await new Promise((r) => setTimeout(r, gapMs));
      }
    })();
    writing = state;
  },
  async stopWriting() {
    if (!writing) return { written: 0, errors: [] as string[] };
    writing.stop = true;
    await writing.done;
    return { written: writing.written, errors: writing.errors };
  },
  async finishWriting() {
    if (!writing) return { written: 0, errors: [] as string[] };
    await writing.done;
    return { written: writing.written, errors: writing.errors };
  },
  /**
   * Inserts one row and sends its capture request to the leader twice, the
   * same request both times (the ids the client minted), as a tab does when
   * the leader that ran it went away before answering.
   */
  async insertSentTwice(id: string) {
    const client = need().client as unknown as { request(r: { op: string }): Promise<unknown> };
    const send = client.request;
    client.request = async function (this: unknown, r: { op: string }) {
      if (r.op !== 'capture') return send.call(this, r);
      await send.call(this, r);
      return send.call(this, r);
    };
    try {
      await need().collections.todos.insert({ id, title: `sent twice by ${tab}`, tab }).isPersisted.promise;
    } finally {
      delete (client as { request?: unknown }).request;
    }
  },
  written(): number {
    return writing?.written ?? 0;
  },
  /** The ids this tab's collection shows, sorted. */
  ids(): string[] {
    return need()
      .collections.todos.toArray.map((t) => t.id)
      .sort();
  },
  /** The key of every event in the log (a key twice means a write captured twice). */
  async logKeys(): Promise<string[]> {
    const events = await need().client.events({ collection: 'todos', limit: 100_000 });
    return events.map((e) => String(e.key));
  },
  status() {
    const s = need().status.get();
    return { pendingCount: s.pendingCount, syncing: s.syncing, lastError: s.lastError?.message ?? null };
  },
  async dispose() {
    await db?.dispose();
    db = null;
  },
};

w.tabs = tabs;
document.body.dataset.ready = 'true';
