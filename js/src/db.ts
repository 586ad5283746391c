/**
 * `createEventSourcedDB`: opens the core (in its worker, or in-process) and
 * returns typed TanStack DB collections whose every insert, update and delete
 * is captured as an event, plus the event log, sync and its status.
 */

import { createCollection as tanstackCreateCollection, createTransaction, type Collection, type Transaction } from '@tanstack/db';
import { CoreClient, type HttpSyncTarget, type SyncRoundResult } from './client.js';
import type { HeadersInit, Key, LoggedEvent, Rejection, SyncOptions, SyncTransport } from './eventsourced_db.js';
import { EventSourcedError } from './protocol.js';
import { AutoSync, type AutoSyncOptions } from './db-auto-sync.js';
import { Binding } from './db-binding.js';
import {
  eventSourcedCollectionOptions,
  type CollectionDefinition,
  type EventSourcedCollectionUtils,
  type TransactionLike,
} from './db-collection.js';
import { asEventSourcedError, isStorageFailure } from './db-errors.js';
import { EventLogFeed, type EventLogEntry } from './db-event-log.js';
import { LiveTail } from './db-live-tail.js';
import { RejectionList, Store, SyncStatusView, type Observable, type SyncStatus } from './db-status.js';

/** The HTTP sync protocol's endpoints (relative URLs resolve against the page). */
export interface SyncUrlConfig {
  /** `POST` target of pushed events. */
  push: string;
  /** `GET` target of pulls (`?since=&limit=`). */
  pull: string;
  /** Snapshot endpoint, for servers that compact their log (`410 Gone` on pull). */
  snapshot?: string;
  /** Live tail (SSE) URL; default `<pull>/stream`; `false` to never try it. */
  stream?: string | false;
  /** Fixed headers, or a function called before every request (a fresh token each time). */
  headers?: HeadersInit | (() => HeadersInit | Promise<HeadersInit>);
  /** Time limit of one request (default 30000 ms). */
  timeoutMs?: number;
}

/** A definition map: collection name → definition. */
export type CollectionDefinitions = Record<string, CollectionDefinition<any, any>>;

/** The typed collections of a definition map. */
export type CollectionsOf<D extends CollectionDefinitions> = {
  [K in keyof D]: D[K] extends { getKey: (row: infer T) => infer TKey }
    ? T extends object
      ? TKey extends string | number
        ? Collection<T, TKey, EventSourcedCollectionUtils<TKey>>
        : never
      : never
    : never;
};

/** The key type of a definition. */
export type KeyOf<Def> = Def extends { getKey: (row: never) => infer TKey } ? TKey : never;

/** What a sync round did: counts, and non-fatal errors (nothing is lost on error). */
export type SyncResult = SyncRoundResult;

/** Options of `createEventSourcedDB`. */
export interface EventSourcedDBConfig<D extends CollectionDefinitions> {
  /** The collections: `{ todos: { getKey: (t: Todo) => t.id } }`. */
  collections: D;
  /** Where to sync: the HTTP protocol's URLs, or your own transport. Omit for a local-only database. */
  sync?: SyncUrlConfig | SyncTransport;
  /** Stamped on every event (default 1). */
  schemaVersion?: number;
  /** The database name: one SQLite database per name (default `'eventsourced-db'`). */
  name?: string;
  /** TanStack's `createCollection` (default: the one of the `@tanstack/db` peer). */
  createCollection?: (options: any) => unknown;
  /** `'opfs'` (default in browsers) or `'memory'` (default where there is no `Worker`, e.g. Node). */
  storage?: 'opfs' | 'memory';
  /** `'worker'` (default where `Worker` exists; needed for OPFS) or `'in-process'`. */
  mode?: 'worker' | 'in-process';
  /** The worker script, when the default lookup cannot find it (e.g. a Vite `?worker&url` import). */
  workerUrl?: string | URL;
  /** The wasm file, when the default lookup beside the glue cannot find it. */
  wasmUrl?: string | URL;
  /** In-process mode: the wasm bytes or module. */
  wasm?: BufferSource | WebAssembly.Module;
  /**
   * Share the database with this app's other tabs (default true where Web
   * Locks exist): one leader tab owns it and runs sync, every tab reads and
   * writes through it, and another tab takes over when it closes.
   */
  tabs?: boolean;
  /** Batch sizes, retries within a round. */
  syncOptions?: SyncOptions;
  /**
   * Automatic sync (default on when `sync` is set); `false` for manual
   * `db.sync()` only; `{ paused: true }` to open with it paused.
   */
  autoSync?: boolean | AutoSyncOptions;
  /** The server refused one of this device's events; its row is already rolled back. */
  onEventRejected?: (rejection: Rejection) => void;
  /** Local storage failed (full, unavailable, worker lost). */
  onStorageFailure?: (error: EventSourcedError) => void;
  /** A sync round had an error (it is retried; nothing is lost). */
  onSyncError?: (error: EventSourcedError) => void;
}

/** An open event-sourced database. */
export interface EventSourcedDB<D extends CollectionDefinitions> {
  /** The database name. */
  readonly name: string;
  /** The typed TanStack collections: use `insert`, `update`, `delete`, live queries. */
  readonly collections: CollectionsOf<D>;
  /** Read-only collection of the event log, with each event's `syncStatus`. */
  readonly eventLog: Collection<EventLogEntry, string>;
  /** Sync status: fields, `get()` and `subscribe`. */
  readonly status: SyncStatusView;
  /** The open rejections as an observable list (what `useRejections` reads). */
  readonly rejectionList: Observable<readonly Rejection[]>;
  /** The underlying core client (advanced use). */
  readonly client: CoreClient;
  /** Pushes pending events and pulls new ones; resolves to `{ pushed, pulled, errors }`. */
  sync(): Promise<SyncResult>;
  /** Rejected events not yet cleared, oldest first. */
  rejections(): Promise<Rejection[]>;
  /** Forgets a rejection; `false` when there was none. */
  clearRejection(eventId: string): Promise<boolean>;
  /** The events of one row, oldest first. */
  history<K extends keyof D & string>(collection: K, key: KeyOf<D[K]>): Promise<LoggedEvent[]>;
  /**
   * Runs `callback`'s mutations (on any collections of this database) as one
   * TanStack transaction, captured in one SQLite transaction: all or nothing.
   */
  transaction(callback: () => void): Transaction;
  /** A `mutationFn` for `createTransaction` / `createOptimisticAction` over these collections. */
  readonly mutationFn: (params: { transaction: TransactionLike }) => Promise<void>;
  /** Stops automatic sync (an "offline" switch; `autoSync: { paused: true }` opens so); `db.sync()` still works. */
  pauseSync(): void;
  /** Resumes automatic sync and syncs now. */
  resumeSync(): void;
  /** Stops sync, releases the collections and closes the database. */
  dispose(): Promise<void>;
}

/**
 * Opens an event-sourced database. Resolves when every collection holds its
 * rows (ready), so the first render has data.
 *
 * @example
 * const db = await createEventSourcedDB({
 *   sync: { push: '/api/events', pull: '/api/events' },
 *   collections: { todos: { getKey: (t: Todo) => t.id } },
 * })
 * db.collections.todos.insert({ id: '1', title: 'Buy milk' })
 */
export async function createEventSourcedDB<const D extends CollectionDefinitions>(
  config: EventSourcedDBConfig<D>,
): Promise<EventSourcedDB<D>> {
  const name = config.name ?? 'eventsourced-db';
  const definitions = Object.entries(config.collections) as Array<[string, CollectionDefinition<object, string | number>]>;
  for (const [cname, def] of definitions) {
    if (cname === '' || typeof def?.getKey !== 'function') {
      throw new EventSourcedError('INVALID_CONFIG', `collection "${cname}" needs a name and a getKey function`);
    }
  }
  const hasWorker = typeof Worker === 'function';
  let client: CoreClient;
  try {
    client = await CoreClient.open(name, {
      storage: config.storage ?? (hasWorker ? 'opfs' : 'memory'),
      ...(config.mode !== undefined && { mode: config.mode }),
      ...(config.workerUrl !== undefined && { workerUrl: config.workerUrl }),
      ...(config.wasmUrl !== undefined && { wasmUrl: config.wasmUrl }),
      ...(config.wasm !== undefined && { wasm: config.wasm }),
      ...(config.tabs !== undefined && { tabs: config.tabs }),
      ...(config.schemaVersion !== undefined && { schemaVersion: config.schemaVersion }),
      collections: definitions.map(([cname, def]) => ({ name: cname, keyKind: def.keyKind ?? 'unknown' })),
    });
  } catch (e) {
    const error = asEventSourcedError(e);
    if (isStorageFailure(error.code)) config.onStorageFailure?.(error);
    throw error;
  }
  return new Database<D>(name, client, config, definitions).open();
}

class Database<D extends CollectionDefinitions> implements EventSourcedDB<D> {
  readonly collections: CollectionsOf<D>;
  readonly eventLog: Collection<EventLogEntry, string>;
  readonly status: SyncStatusView;
  readonly rejectionList = new RejectionList();
  readonly mutationFn: (params: { transaction: TransactionLike }) => Promise<void>;
  private readonly statusStore: Store<SyncStatus>;
  private readonly binding: Binding;
  private readonly feed: EventLogFeed;
  private readonly target: HttpSyncTarget | SyncTransport | null;
  private readonly auto: AutoSync | null = null;
  private readonly tail: LiveTail | null = null;
  private readonly cleanups: Array<() => void> = [];
  /** The collections loaded at open (all but those defined with `startSync: false`). */
  private readonly eager: Array<Collection<any, any, any>> = [];
  private countsRunning = false;
  private countsAgain = false;
  private disposed = false;

  constructor(
    readonly name: string,
    readonly client: CoreClient,
    private readonly config: EventSourcedDBConfig<D>,
    definitions: Array<[string, CollectionDefinition<object, string | number>]>,
  ) {
    const autoOptions: AutoSyncOptions = typeof config.autoSync === 'object' ? config.autoSync : {};
    this.statusStore = new Store<SyncStatus>({
      online: isOnline(),
      // Paused from the start: no round, no live tail until `resumeSync()`.
      paused: autoOptions.paused === true,
      syncing: false,
      pendingCount: 0,
      // The end of the last complete round, as the core keeps it.
      lastSyncAt: client.info.lastSyncAt ?? null,
      lastError: null,
    });
    this.status = new SyncStatusView(this.statusStore);
    this.feed = new EventLogFeed(client);
    this.binding = new Binding(client, {
      afterCapture: (pending) => {
        // The count the capture's answer carried is as fresh as a read.
        if (pending === null) this.refreshCounts();
        else this.statusStore.update({ pendingCount: pending });
        this.feed.refresh('appended');
        this.auto?.schedule();
      },
      captureFailed: (error) => {
        if (isStorageFailure(error.code)) this.config.onStorageFailure?.(error);
      },
    });
    this.mutationFn = ({ transaction }) => this.binding.persist(transaction);
    const create = (config.createCollection ?? tanstackCreateCollection) as (options: unknown) => Collection<any, any, any>;
    const collections: Record<string, Collection<any, any, any>> = {};
    for (const [cname, definition] of definitions) {
      const collection = create(
        eventSourcedCollectionOptions({ name: cname, id: `${name}/${cname}`, definition, host: this.binding }),
      );
      this.binding.register(collection, cname);
      collections[cname] = collection;
      if (definition.startSync !== false) this.eager.push(collection);
    }
    this.collections = collections as CollectionsOf<D>;
    this.eventLog = create(this.feed.options(`${name}/$events`)) as Collection<EventLogEntry, string>;

    this.target = syncTarget(config.sync);
    const autoEnabled = this.target !== null && config.autoSync !== false && autoOptions.enabled !== false;
    if (autoEnabled) {
      this.auto = new AutoSync(
        {
          run: async () => (await this.sync()).errors.length > 0,
          // Only the leader tab syncs: it owns the database.
          active: () =>
            !this.disposed && this.client.isLeader && this.statusStore.get().online && !this.statusStore.get().paused,
        },
        autoOptions,
      );
      const url = config.sync && !isTransport(config.sync) ? config.sync : null;
      if (url && url.stream !== false && autoOptions.liveTail !== false) {
        this.tail = liveTailFor(url, client, () => this.auto?.schedule(20));
      }
    }
  }

  /** Hydrates every collection, loads status and rejections, starts auto-sync. */
  async open(): Promise<this> {
    this.cleanups.push(
      this.client.subscribe((n) => {
        switch (n.kind) {
          case 'changes':
            this.binding.applyChanges(n.changes);
            // Another tab's write appends; a round also settles events.
            this.feed.refresh(n.cause === 'capture' ? 'appended' : 'all');
            if (n.cause === 'capture') {
              // Another tab's write: the leader pushes it.
              this.refreshCounts();
              this.auto?.schedule();
            }
            return;
          case 'rejections':
            this.rejectionList.add(n.rejections);
            for (const r of n.rejections) {
              try {
                this.config.onEventRejected?.(r);
              } catch (e) {
                console.error('eventsourced-db: onEventRejected threw', e);
              }
            }
            this.feed.refresh();
            this.refreshCounts();
            return;
          case 'status':
            this.statusStore.update({
              syncing: n.status.syncing,
              // A host that has not run a round yet knows no time: keep the one read at open.
              lastSyncAt: n.status.lastSyncAt ?? this.statusStore.get().lastSyncAt,
              lastError: n.status.lastError ? EventSourcedError.fromWire(n.status.lastError) : null,
            });
            // Another tab's round (this tab's own refreshes after `sync`):
            // it may have confirmed events without pulling any change.
            if (!n.status.syncing && !this.client.isLeader) {
              this.refreshCounts();
              this.feed.refresh('all');
            }
            return;
          case 'leader':
            this.leaderChanged(n.isLeader);
            return;
          case 'closed':
            return;
        }
      }),
    );
    try {
      const [rejections] = await Promise.all([this.client.rejections(), ...this.eager.map((c) => c.preload())]);
      this.rejectionList.reset(rejections);
      this.refreshCounts();
    } catch (e) {
      await this.dispose().catch(() => undefined);
      throw asEventSourcedError(e);
    }
    this.watchConnectivity();
    this.auto?.start();
    this.startTail();
    return this;
  }

  async sync(): Promise<SyncResult> {
    if (!this.target) return { pushed: 0, pulled: 0, rejected: 0, errors: [] };
    const result = await this.client.sync(this.target, this.config.syncOptions);
    for (const e of result.errors) {
      try {
        this.config.onSyncError?.(e);
      } catch (err) {
        console.error('eventsourced-db: onSyncError threw', err);
      }
    }
    this.refreshCounts();
    this.feed.refresh();
    return result;
  }

  rejections(): Promise<Rejection[]> {
    return this.client.rejections();
  }

  async clearRejection(eventId: string): Promise<boolean> {
    const cleared = await this.client.clearRejection(eventId);
    this.rejectionList.remove(eventId);
    return cleared;
  }

  history<K extends keyof D & string>(collection: K, key: KeyOf<D[K]>): Promise<LoggedEvent[]> {
    return this.client.history(collection, key as Key);
  }

  transaction(callback: () => void): Transaction {
    const tx = createTransaction<Record<string, unknown>>({ mutationFn: this.mutationFn });
    tx.mutate(callback);
    return tx;
  }

  pauseSync(): void {
    this.statusStore.update({ paused: true });
    this.auto?.cancel();
    this.tail?.stop();
  }

  resumeSync(): void {
    this.statusStore.update({ paused: false });
    this.auto?.resetBackoff();
    this.auto?.schedule(0);
    this.startTail();
  }

  async dispose(): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    this.auto?.stop();
    this.tail?.stop();
    for (const c of this.cleanups.splice(0)) c();
    for (const c of [...Object.values(this.collections), this.eventLog]) {
      try {
        await (c as Collection<any, any, any>).cleanup();
      } catch {
        // Best effort: the database closes regardless.
      }
    }
    await this.client.close();
  }

  /** The live tail runs in the leader tab only, while online and not paused. */
  private startTail(): void {
    const s = this.statusStore.get();
    if (this.client.isLeader && s.online && !s.paused) this.tail?.start();
  }

  /**
   * Another tab, or this one, took the database over. What changed around
   * the switch may not have been streamed here: re-read rows, rejections,
   * counts. The new leader also takes over sync.
   */
  private leaderChanged(isLeader: boolean): void {
    if (this.disposed) return;
    if (isLeader) {
      this.auto?.resetBackoff();
      this.auto?.schedule(0);
      this.startTail();
    } else {
      this.tail?.stop();
    }
    for (const name of Object.keys(this.collections)) {
      // Applied as the answer arrives, so later changes of the stream land on top.
      this.client.visibleRows(name).then(
        (rows) => this.binding.reconcile(name, rows),
        () => undefined,
      );
    }
    this.client.rejections().then(
      (list) => this.rejectionList.reset(list),
      () => undefined,
    );
    this.refreshCounts();
    this.feed.refresh();
  }

  /** Re-reads the pending count (coalesced: at most one read in flight). */
  private refreshCounts(): void {
    if (this.countsRunning) {
      this.countsAgain = true;
      return;
    }
    this.countsRunning = true;
    this.client
      .counts()
      .then((c) => this.statusStore.update({ pendingCount: c.pending }))
      .catch(() => undefined)
      .finally(() => {
        this.countsRunning = false;
        if (this.countsAgain && !this.disposed) {
          this.countsAgain = false;
          this.refreshCounts();
        }
      });
  }

  /** Follows `online`/`offline`: sync pauses while offline and runs on reconnect. */
  private watchConnectivity(): void {
    const target = globalThis as { addEventListener?: typeof addEventListener; removeEventListener?: typeof removeEventListener };
    if (typeof target.addEventListener !== 'function' || typeof target.removeEventListener !== 'function') return;
    const onOnline = () => {
      this.statusStore.update({ online: true });
      const auto = typeof this.config.autoSync === 'object' ? this.config.autoSync : {};
      this.auto?.resetBackoff();
      if (auto.onOnline !== false) this.auto?.schedule(0);
      this.startTail();
    };
    const onOffline = () => {
      this.statusStore.update({ online: false });
      this.auto?.cancel();
      this.tail?.stop();
    };
    target.addEventListener('online', onOnline);
    target.addEventListener('offline', onOffline);
    this.cleanups.push(() => {
      target.removeEventListener!('online', onOnline);
      target.removeEventListener!('offline', onOffline);
    });
  }
}

function isTransport(s: SyncUrlConfig | SyncTransport): s is SyncTransport {
  return typeof (s as SyncTransport).push === 'function';
}

function syncTarget(s: SyncUrlConfig | SyncTransport | undefined): HttpSyncTarget | SyncTransport | null {
  if (!s) return null;
  if (isTransport(s)) return s;
  const t: HttpSyncTarget = { push: s.push, pull: s.pull };
  if (s.snapshot !== undefined) t.snapshot = s.snapshot;
  if (s.timeoutMs !== undefined) t.timeoutMs = s.timeoutMs;
  if (s.headers !== undefined) t.headers = s.headers;
  return t;
}

function liveTailFor(s: SyncUrlConfig, client: CoreClient, onEvent: () => void): LiveTail {
  const base = (globalThis as { location?: { href: string } }).location?.href;
  const stream = typeof s.stream === 'string' ? s.stream : `${s.pull.replace(/\/+$/, '')}/stream`;
  return new LiveTail({
    url: (cursor) => {
      const url = base ? new URL(stream, base) : new URL(stream);
      url.searchParams.set('since', cursor);
      return url.href;
    },
    cursor: () => client.cursor(),
    headers: async () => (typeof s.headers === 'function' ? await s.headers() : (s.headers ?? {})),
    onEvent,
  });
}

function isOnline(): boolean {
  const nav = (globalThis as { navigator?: { onLine?: boolean } }).navigator;
  return nav?.onLine ?? true;
}
