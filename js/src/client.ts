/**
 * The main-thread client of the core: typed async methods over the message
 * protocol, to a dedicated worker (browsers, OPFS) or to a host in this
 * thread (in-process mode: Node, tests, `storage: 'memory'`).
 */

import type {
  EventQuery,
  HeadersInit,
  Key,
  LogCounts,
  LoggedEvent,
  Mutation,
  OpenOptions,
  Rejection,
  Row,
  SyncOptions,
  SyncTransport,
  VisibleChange,
  VisibleRow,
  VisibleRowsPage,
} from './eventsourced_db.js';
import {
  EventSourcedError,
  changesOf,
  toWireError,
  fromWireNotification,
  type Endpoint,
  type WasmModuleMessage,
  type FromHost,
  type Notification,
  type Op,
  type OpenInfo,
  type Operations,
  type Request,
  type RequestEnvelope,
  type WireError,
  type WireTransport,
} from './protocol.js';
import { canElect } from './tabs-election.js';
import { TabsEndpoint } from './tabs.js';
import { uuidv7s } from './uuid.js';

/** Captures of at least this many mutations cross to the worker as JSON text. */
const TEXT_CAPTURE_MIN = 64;

/** Rows per hydration page: about 1.5 MB of JSON for typical rows. */
const HYDRATION_PAGE_ROWS = 10_000;

/**
 * Rows of the first hydration page: the page thread writes them into the
 * collection while the worker reads the next page (10k rows: ~25% sooner).
 */
const FIRST_HYDRATION_PAGE_ROWS = 2_000;

/** The HTTP sync protocol's URLs (relative ones resolve against the page). */
export interface HttpSyncTarget {
  push: string;
  pull: string;
  snapshot?: string;
  /** Time limit of one request, body included (default 30000 ms). */
  timeoutMs?: number;
  /** Fixed headers, or a function called before every request (a fresh token each time). */
  headers?: HeadersInit | (() => HeadersInit | Promise<HeadersInit>);
}

/** Where `sync` goes: the HTTP protocol, or the app's own transport functions. */
export type SyncTarget = HttpSyncTarget | SyncTransport;

/** What a sync round did. `errors` are non-fatal; nothing is lost on error. */
export interface SyncRoundResult {
  pushed: number;
  pulled: number;
  rejected: number;
  errors: EventSourcedError[];
}

export interface CoreClientOptions extends OpenOptions {
  /**
   * `'worker'` (default where `Worker` exists): the core in a dedicated
   * worker, required for OPFS. `'in-process'`: the core in this thread.
   */
  mode?: 'worker' | 'in-process';
  /** The worker script, when the default lookup cannot find it. */
  workerUrl?: string | URL;
  /** The wasm file, when the default lookup beside the glue cannot find it. */
  wasmUrl?: string | URL;
  /** In-process mode: the wasm bytes or module instead of a URL. */
  wasm?: BufferSource | WebAssembly.Module;
  /** Also stream the changes of captures (for other tabs); default false. */
  notifyCaptures?: boolean;
  /** How long a worker may take to load (default 15000 ms). */
  readyTimeoutMs?: number;
  /**
   * Share an OPFS database with the app's other tabs (default true where
   * Web Locks exist): one leader tab runs the worker, the others send it
   * their requests and receive its change stream; when it goes, another
   * takes over. `false`: this tab opens the database alone (another tab
   * holding it makes the open fail).
   */
  tabs?: boolean;
}

type Pending = { resolve(value: unknown): void; reject(error: unknown): void };

/** A database of the core, open through a worker or in this thread. */
export class CoreClient {
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  private outgoing: RequestEnvelope[] = [];
  private readonly targets = new Map<number, SyncTarget>();
  private readonly listeners = new Set<(n: Notification) => void>();
  private failure: EventSourcedError | null = null;
  private _info: OpenInfo | null = null;
  private _isLeader = true;
  private countAfterCaptures: number | null = null;

  private constructor(private readonly endpoint: Endpoint) {
    endpoint.listen((message) => this.receive(message));
    endpoint.onFailure((error) => this.fail(EventSourcedError.fromWire(error)));
  }

  /**
   * Opens the database `name`. Rejects with `STORAGE_UNAVAILABLE` where OPFS
   * is missing (pass `storage: 'memory'` to run without persistence) and
   * `WORKER_UNAVAILABLE` when the worker or the wasm cannot be loaded.
   */
  static async open(name: string, options: CoreClientOptions = {}): Promise<CoreClient> {
    const mode = options.mode ?? (typeof Worker === 'function' ? 'worker' : 'in-process');
    const storage = options.storage ?? 'opfs';
    // Only OPFS needs one owner; in-memory databases are per tab anyway.
    const shared = mode === 'worker' && storage === 'opfs' && options.tabs !== false && canElect();
    const endpoint = shared
      ? new TabsEndpoint({ name, startHost: () => startWorker(options) })
      : mode === 'worker'
        ? await startWorker(options)
        : (await import('./worker-local.js')).createLocalEndpoint({
            ...(options.wasm !== undefined && { wasm: options.wasm }),
            ...(options.wasmUrl !== undefined && { wasmUrl: options.wasmUrl }),
          });
    const client = new CoreClient(endpoint);
    if (storage === 'opfs') requestPersistence();
    const openOptions: OpenOptions = { storage };
    if (options.collections) openOptions.collections = options.collections;
    if (options.schemaVersion !== undefined) openOptions.schemaVersion = options.schemaVersion;
    try {
      client._info = await client.request({
        op: 'open',
        name,
        options: openOptions,
        ...(mode === 'worker' && options.wasmUrl !== undefined && { wasmUrl: String(new URL(options.wasmUrl, baseUrl())) }),
        ...(options.notifyCaptures !== undefined && { notifyCaptures: options.notifyCaptures }),
        acks: true,
      });
    } catch (e) {
      endpoint.terminate();
      throw e;
    }
    return client;
  }

  /**
   * Whether this tab owns the database (always, with one tab or `tabs:
   * false`). Followed by `subscribe` notifications of kind `leader`.
   */
  get isLeader(): boolean {
    return this._isLeader;
  }

  /** Name, client id, storage, and the cursor at open. */
  get info(): OpenInfo {
    if (!this._info) throw new EventSourcedError('CLOSED', 'the database is not open');
    return this._info;
  }

  /**
   * Captures mutations durably (one SQLite transaction); resolves to their
   * visible changes. Each mutation without an `eventId` gets one here (a
   * UUIDv7), so the request is idempotent: when it is sent again (another
   * tab took the database over before answering) the core recognises the
   * ids it already has and reports those rows as they stand instead of
   * applying the mutations twice.
   */
  capture(mutations: Mutation[]): Promise<VisibleChange[]> {
    const missing = mutations.filter((m) => m.eventId === undefined).length;
    if (missing > 0) {
      const ids = uuidv7s(missing);
      let next = 0;
      mutations = mutations.map((m) => (m.eventId === undefined ? { ...m, eventId: ids[next++]! } : m));
    }
    if (mutations.length < TEXT_CAPTURE_MIN) return this.request({ op: 'capture', mutations }).then(changesOf);
    let text: string;
    try {
      text = JSON.stringify(mutations);
    } catch (e) {
      // A BigInt or a cycle: nothing was sent, nothing is stored.
      return Promise.reject(new EventSourcedError('NOT_SERIALIZABLE', `a mutation cannot be stored as JSON: ${String(e)}`));
    }
    const rows = mutations.map((m): [string, Key] => [m.collection, m.key]);
    return this.request({ op: 'capture', mutations: text, rows }).then(changesOf);
  }

  /**
   * The visible rows of a collection with their keys. Read in pages, so
   * the worker never holds the whole collection as text; the next page is
   * asked for before this one is parsed.
   */
  async visibleRows(collection: string): Promise<VisibleRow[]> {
    let rows: VisibleRow[] = [];
    await this.rowPages(collection, false, (text) => {
      if (text.rows === undefined) throw new EventSourcedError('INTERNAL', 'the host answered a keyed page without its rows');
      const page = JSON.parse(text.rows) as VisibleRow[];
      if (rows.length === 0) rows = page;
      else for (const r of page) rows.push(r);
    });
    return rows;
  }

  /**
   * The visible rows of a collection, for hydration: page by page, each
   * handed to `onPage` as soon as it is parsed, while the worker reads the
   * next. The pages hold the rows only (the collection's `getKey` knows the
   * keys). The first page is small, so the page thread starts on it early.
   */
  visibleRowPages(collection: string, onPage: (rows: Row[]) => void): Promise<void> {
    return this.rowPages(collection, true, (text) =>
      onPage(
        text.values !== undefined
          ? (JSON.parse(text.values) as Row[])
          : // A leader tab from before `valuesOnly`: keyed rows.
            (JSON.parse(text.rows) as VisibleRow[]).map((r) => r.value as Row),
      ),
    );
  }

  private async rowPages(collection: string, valuesOnly: boolean, onText: (page: VisibleRowsPage) => void): Promise<void> {
    const read = (limit: number, after?: string) =>
      this.request({ op: 'visibleRows', collection, ...(after !== undefined && { after }), limit, ...(valuesOnly && { valuesOnly }) });
    let page = await read(FIRST_HYDRATION_PAGE_ROWS);
    for (;;) {
      const next = page.next === null ? null : read(HYDRATION_PAGE_ROWS, page.next);
      // Sent now, not after this page's parse and write: the worker reads meanwhile.
      this.sendOutgoing();
      onText(page);
      if (next === null) return;
      page = await next;
    }
  }

  /** Events of the log, oldest first. */
  events(query?: EventQuery): Promise<LoggedEvent[]> {
    return this.request({ op: 'events', ...(query && { query }) });
  }

  /** The events of one row, oldest first. */
  history(collection: string, key: Key): Promise<LoggedEvent[]> {
    return this.request({ op: 'history', collection, key });
  }

  /** Rejected events not yet cleared. */
  rejections(): Promise<Rejection[]> {
    return this.request({ op: 'rejections' });
  }

  /** Forgets a rejection; `false` when there was none. */
  clearRejection(eventId: string): Promise<boolean> {
    return this.request({ op: 'clearRejection', eventId });
  }

  /**
   * The log's pending count carried by the message that answered the
   * latest requests, when captures were among them; `null` otherwise. Read
   * right after a `capture` resolves, it is the count that capture left
   * (no other message can come between).
   */
  pendingAfterCaptures(): number | null {
    return this.countAfterCaptures;
  }

  /** Pending, rejected and total events. */
  counts(): Promise<LogCounts> {
    return this.request({ op: 'counts' });
  }

  /** The current pull cursor. */
  async cursor(): Promise<string> {
    return (await this.request({ op: 'info' })).cursor;
  }

  /**
   * One sync round: push the outbox, pull until done. Pulled changes arrive
   * through `subscribe` (kind `changes`, cause `sync`) before this resolves.
   */
  async sync(target: SyncTarget, options?: SyncOptions): Promise<SyncRoundResult> {
    const id = this.nextId;
    this.targets.set(id, target);
    try {
      const result = await this.request({ op: 'sync', transport: wireTransport(target), ...(options && { options }) });
      return { ...result, errors: result.errors.map((e) => EventSourcedError.fromWire(e)) };
    } finally {
      this.targets.delete(id);
    }
  }

  /** Receives the change stream; returns the unsubscribe function. */
  subscribe(listener: (notification: Notification) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Closes the database (after running syncs end) and stops the worker. */
  async close(): Promise<void> {
    if (this.failure) return;
    try {
      await this.request({ op: 'close' });
    } finally {
      this.fail(new EventSourcedError('CLOSED', 'the database is closed'));
      this.endpoint.terminate();
    }
  }

  private request<K extends Op>(request: Extract<Request, { op: K }>): Promise<Operations[K]['result']> {
    if (this.failure) return Promise.reject(this.failure);
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      // Requests of one tick travel in one message.
      this.outgoing.push({ id, request });
      if (this.outgoing.length === 1) queueMicrotask(() => this.sendOutgoing());
    });
  }

  /** Posts the requests queued this tick (a no-op once they went). */
  private sendOutgoing(): void {
    if (this.outgoing.length === 0) return;
    const batch = this.outgoing;
    this.outgoing = [];
    this.endpoint.post({ type: 'requests', batch });
  }

  private receive(message: FromHost): void {
    switch (message.type) {
      case 'responses':
        this.countAfterCaptures = message.pending ?? null;
        for (const r of message.batch) {
          const p = this.pending.get(r.id);
          this.pending.delete(r.id);
          if (!p) continue;
          if (r.ok) p.resolve(r.value);
          else p.reject(EventSourcedError.fromWire(r.error));
        }
        return;
      case 'notify': {
        if (message.notification.kind === 'leader') this._isLeader = message.notification.isLeader;
        if (this.listeners.size > 0) {
          const notification = fromWireNotification(message.notification);
          for (const l of this.listeners) {
            try {
              l(notification);
            } catch (e) {
              console.error('eventsourced-db: a subscriber threw', e);
            }
          }
        }
        // Applied (subscribers run synchronously): the host may send more.
        if (message.notification.kind === 'changes') this.endpoint.post({ type: 'ack' });
        return;
      }
      case 'callback':
        void this.answer(message.callId, message.requestId, message.method, message.args);
        return;
      case 'ready':
        return;
    }
  }

  /** Runs the app function the host asked for and posts its outcome. */
  private async answer(callId: number, requestId: number, method: string, args: unknown[]): Promise<void> {
    try {
      const target = this.targets.get(requestId);
      if (!target) throw new EventSourcedError('INTERNAL', `no sync target for request ${requestId}`);
      let value: unknown;
      if (method === 'headers') {
        const h = (target as HttpSyncTarget).headers;
        value = typeof h === 'function' ? await h() : h;
      } else {
        const t = target as SyncTransport;
        if (method === 'push') value = await t.push(args[0] as Parameters<SyncTransport['push']>[0]);
        else if (method === 'pull') value = await t.pull(args[0] as string, args[1] as number);
        else if (method === 'snapshot' && t.snapshot) value = await t.snapshot();
        else throw new EventSourcedError('INTERNAL', `unknown callback ${method}`);
      }
      this.endpoint.post({ type: 'callbackResult', callId, ok: true, value });
    } catch (e) {
      this.endpoint.post({ type: 'callbackResult', callId, ok: false, error: toWireError(e) });
    }
  }

  private fail(error: EventSourcedError): void {
    this.failure ??= error;
    for (const p of this.pending.values()) p.reject(error);
    this.pending.clear();
  }
}

function baseUrl(): string | undefined {
  return (globalThis as { location?: { href: string } }).location?.href;
}

function wireTransport(target: SyncTarget): WireTransport {
  if (typeof (target as SyncTransport).push === 'function') {
    return { kind: 'custom', hasSnapshot: typeof (target as SyncTransport).snapshot === 'function' };
  }
  const t = target as HttpSyncTarget;
  // The worker would resolve relative URLs against its own script.
  const base = baseUrl();
  const abs = (u: string) => (base ? new URL(u, base).href : u);
  const wire: WireTransport = { kind: 'http', push: abs(t.push), pull: abs(t.pull) };
  if (t.snapshot !== undefined) wire.snapshot = abs(t.snapshot);
  if (t.timeoutMs !== undefined) wire.timeoutMs = t.timeoutMs;
  if (typeof t.headers === 'function') wire.dynamicHeaders = true;
  else if (t.headers) wire.headers = t.headers;
  return wire;
}

/** `navigator.storage.persist()` exists only on windows: asked here, best effort. */
function requestPersistence(): void {
  const storage = (globalThis as { navigator?: { storage?: { persist?: () => Promise<boolean> } } }).navigator?.storage;
  storage?.persist?.().catch(() => false);
}

/**
 * Starts the worker: the plain `new URL('./worker.js', import.meta.url)`
 * first; if that worker fails before `ready` (a dependency optimizer moved
 * the package), the package-name URL. Both literal, so bundlers see them.
 */
async function startWorker(options: CoreClientOptions): Promise<Endpoint> {
  const timeout = options.readyTimeoutMs ?? 15_000;
  if (options.workerUrl !== undefined) {
    return workerEndpoint(await whenReady(() => new Worker(options.workerUrl!, { type: 'module' }), timeout));
  }
  // The wasm compiles here (from the browser's wasm code cache where it keeps one)
  // while the worker loads, instead of after it: a shorter cold start.
  const compiled = options.wasmUrl === undefined ? compileDefaultWasm() : null;
  try {
    const worker = await whenReady(() => new Worker(new URL('./worker.js', import.meta.url), { type: 'module' }), timeout);
    const module = await compiled;
    if (module) worker.postMessage({ type: 'wasmModule', module } satisfies WasmModuleMessage);
    return workerEndpoint(worker);
  } catch (first) {
    try {
      return workerEndpoint(
        await whenReady(() => new Worker(new URL('@eventsourced/db/worker.js', import.meta.url), { type: 'module' }), timeout),
      );
    } catch {
      throw first;
    }
  }
}

/**
 * Compiles the wasm beside this file; `null` where that fails (no streaming
 * compile, a server without the wasm MIME type): the worker loads it then.
 */
function compileDefaultWasm(): Promise<WebAssembly.Module | null> {
  if (typeof WebAssembly?.compileStreaming !== 'function' || typeof fetch !== 'function') return Promise.resolve(null);
  return WebAssembly.compileStreaming(fetch(new URL('./eventsourced_db_bg.wasm', import.meta.url))).catch(() => null);
}

function whenReady(start: () => Worker, timeoutMs: number): Promise<Worker> {
  return new Promise((resolve, reject) => {
    let worker: Worker;
    try {
      worker = start();
    } catch (e) {
      reject(new EventSourcedError('WORKER_UNAVAILABLE', `could not start the worker: ${String(e)}`));
      return;
    }
    const done = (error?: EventSourcedError) => {
      clearTimeout(timer);
      worker.removeEventListener('message', onMessage);
      worker.removeEventListener('error', onError);
      if (error) {
        worker.terminate();
        reject(error);
      } else resolve(worker);
    };
    const onMessage = (e: MessageEvent<FromHost>) => {
      if (e.data?.type === 'ready') done();
    };
    const onError = (e: ErrorEvent) =>
      done(new EventSourcedError('WORKER_UNAVAILABLE', `the worker failed to load: ${e.message || 'unknown error'}`));
    const timer = setTimeout(
      () => done(new EventSourcedError('WORKER_UNAVAILABLE', `the worker did not start within ${timeoutMs} ms`)),
      timeoutMs,
    );
    worker.addEventListener('message', onMessage);
    worker.addEventListener('error', onError);
  });
}

function workerEndpoint(worker: Worker): Endpoint {
  let failure: ((error: WireError) => void) | null = null;
  worker.addEventListener('error', (e) => {
    failure?.({ name: 'EventSourcedError', code: 'WORKER_UNAVAILABLE', message: `the worker failed: ${e.message}` });
  });
  return {
    post: (message) => worker.postMessage(message),
    listen: (listener) => worker.addEventListener('message', (e: MessageEvent<FromHost>) => listener(e.data)),
    onFailure: (listener) => {
      failure = listener;
    },
    terminate: () => worker.terminate(),
  };
}
