/**
 * The collection-options creator: binds one TanStack DB collection to one
 * collection of the core.
 *
 * - `sync` hydrates from the core's visible rows (begin/write/commit/markReady)
 *   and then applies the visible changes the core reports (replayed remote
 *   events, rolled-back rejections): those writes never reach the mutation
 *   handlers, so nothing is captured twice.
 * - `onInsert/onUpdate/onDelete` hand the whole transaction to the core and
 *   write the resulting rows through the same sync path *before* resolving,
 *   so the optimistic overlay is replaced in one step (no flicker).
 */

import type { BaseCollectionConfig, CollectionConfig, SyncConfig } from '@tanstack/db';
import type { Key, LoggedEvent, VisibleChange } from './eventsourced_db.js';
import { storableSchema } from './db-storable.js';

/**
 * The TanStack collection options that a definition may set; they go to
 * `createCollection` as given. The binding owns the others (`id`, `schema`,
 * `sync`, the mutation handlers, `utils`), and `syncMode` stays `'eager'`
 * (the core hands over whole collections).
 *
 * - `gcTime`: default `0`, never collected (the rows stay in memory; a
 *   collected collection hydrates from the core again on its next use).
 * - `startSync`: default `true`. With `false` the collection is not loaded
 *   at open: it hydrates when first used (a live query, `preload()`).
 * - `autoIndex` (with `defaultIndexType`), `compare`, `defaultStringCollation`:
 *   TanStack's own meaning.
 */
export const PASS_THROUGH_OPTIONS = [
  'gcTime',
  'startSync',
  'autoIndex',
  'defaultIndexType',
  'compare',
  'defaultStringCollation',
] as const;

/** See `PASS_THROUGH_OPTIONS`. */
export type PassThroughCollectionOptions<T extends object, TKey extends string | number> = Pick<
  BaseCollectionConfig<T, TKey>,
  (typeof PASS_THROUGH_OPTIONS)[number]
>;

/**
 * One collection of `createEventSourcedDB({ collections })`: its key, and
 * optionally TanStack collection options (`gcTime`, `startSync`,
 * `autoIndex`, `defaultIndexType`, `compare`, `defaultStringCollation`).
 */
export interface CollectionDefinition<T extends object, TKey extends string | number>
  extends PassThroughCollectionOptions<T, TKey> {
  /** The row's key; the same function on every device. */
  getKey: (row: T) => TKey;
  /**
   * Whether keys are strings or numbers. Optional: the core learns it from
   * the first key; declaring it helps map keys pulled from servers that
   * store keys as text before any local row exists.
   */
  keyKind?: 'string' | 'number';
}

/** `utils` of every event-sourced collection. */
export interface EventSourcedCollectionUtils<TKey extends string | number = string | number> {
  /** The events of one row of this collection, oldest first. */
  history(key: TKey): Promise<LoggedEvent[]>;
  [name: string]: unknown;
}

/** What a collection needs from its database (implemented by `Binding`). */
export interface CollectionHost {
  /** Persists a TanStack transaction; resolves once its rows are written back. */
  persist(transaction: TransactionLike): Promise<void>;
  /** Loads the visible rows (without their keys) of a collection for hydration, page by page. */
  visibleRowPages(collection: string, onPage: (rows: Row[]) => void): Promise<void>;
  history(collection: string, key: Key): Promise<LoggedEvent[]>;
  /** Registers the sink that receives a collection's visible changes. */
  attach(collection: string, sink: RowSink): () => void;
}

/** The part of a TanStack transaction that is read here. */
export interface TransactionLike {
  mutations: ReadonlyArray<{
    type: 'insert' | 'update' | 'delete';
    key: unknown;
    original: unknown;
    modified: unknown;
    changes: unknown;
    collection: unknown;
  }>;
}

type SyncParams = Parameters<SyncConfig<Record<string, unknown>, string | number>['sync']>[0];
type Row = Record<string, unknown>;

/**
 * Receives a collection's visible changes and writes them into TanStack's
 * synced state. Every row is written as an `update`: with `rowUpdateMode:
 * 'full'` TanStack makes that an insert for a key it does not hold (and
 * reports it as one), so no copy of the key set is kept here.
 */
export class RowSink {
  /** Changes that arrive while hydrating; applied after the snapshot, in order. */
  private buffer: VisibleChange[] | null = [];

  constructor(
    private readonly params: SyncParams,
    private readonly getKey: (row: Row) => string | number,
  ) {}

  /** Writes one page of the hydration snapshot (before `hydrated`). */
  hydratePage(rows: readonly Row[]): void {
    if (rows.length === 0) return;
    const { begin, write, commit } = this.params;
    begin();
    for (const value of rows) write({ type: 'insert', value });
    commit();
  }

  /** After the last snapshot page: whatever arrived meanwhile, then ready. */
  hydrated(): void {
    const { markReady } = this.params;
    const pending = this.buffer ?? [];
    this.buffer = null;
    if (pending.length > 0) this.apply(pending);
    markReady();
  }

  /**
   * Applies visible changes in one sync transaction. Synchronous, and the
   * commit is never awaited: while a transaction of this collection is
   * persisting TanStack holds the commit until it settles.
   */
  apply(changes: readonly VisibleChange[]): void {
    if (this.buffer) {
      for (const c of changes) this.buffer.push(c);
      return;
    }
    if (changes.length === 0) return;
    const { begin, write, commit } = this.params;
    begin();
    for (const change of changes) {
      if (change.type === 'delete') write({ type: 'delete', key: this.keyOf(change) });
      else write({ type: 'update', value: change.value });
    }
    commit();
  }

  /**
   * Makes the synced state equal `rows` (the core's visible rows): writes
   * every row and deletes the keys it no longer has. For a change stream
   * that may have had a gap (another tab took over the database).
   */
  reconcile(rows: ReadonlyArray<{ key: Key; value: Row }>): void {
    // Still hydrating: the snapshot on its way is as fresh.
    if (this.buffer) return;
    const changes: VisibleChange[] = [];
    const keep = new Set<string | number>();
    for (const { key, value } of rows) {
      const change: VisibleChange = { collection: '', key, type: 'update', value };
      keep.add(this.keyOf(change));
      changes.push(change);
    }
    // Keys the collection shows that the core no longer has (deleting a key
    // that is only optimistic leaves its pending transaction alone).
    for (const key of this.params.collection.keys()) {
      if (!keep.has(key)) changes.push({ collection: '', key, type: 'delete', value: {} });
    }
    this.apply(changes);
  }

  /** The key as `getKey` makes it (a server may have turned a number key into text). */
  private keyOf(change: VisibleChange): string | number {
    if (change.value && typeof change.value === 'object' && hasField(change.value)) {
      try {
        return this.getKey(change.value);
      } catch {
        // A row the app's getKey cannot read: fall back to the core's key.
      }
    }
    return change.key;
  }
}

/** Whether a row has a field (without building the array of its keys). */
function hasField(row: object): boolean {
  for (const name in row) if (Object.hasOwn(row, name)) return true;
  return false;
}

/**
 * The TanStack collection options of one event-sourced collection. Used by
 * `createEventSourcedDB`; exported for apps that create their collections
 * themselves (pass the result to `createCollection`).
 */
export function eventSourcedCollectionOptions<T extends object, TKey extends string | number>(options: {
  /** The collection's name in the core and on the wire (`collectionId`). */
  name: string;
  /** The TanStack collection id (default: the name). */
  id?: string;
  definition: CollectionDefinition<T, TKey>;
  host: CollectionHost;
}): CollectionConfig<T, TKey, never, EventSourcedCollectionUtils<TKey>> {
  const { name, definition, host } = options;
  const getKey = definition.getKey as unknown as (row: Row) => string | number;
  const handler = ({ transaction }: { transaction: TransactionLike }) => host.persist(transaction);
  const config = {
    id: options.id ?? name,
    getKey: definition.getKey,
    // The core keeps every row; dropping the in-memory copy would only cost a re-hydration.
    gcTime: 0,
    startSync: true,
    ...passThroughOptions(definition),
    // Refuses non-JSON values synchronously in insert/update, naming the field.
    schema: storableSchema(name),
    sync: {
      rowUpdateMode: 'full',
      sync: (params: SyncParams) => {
        const sink = new RowSink(params, getKey);
        const detach = host.attach(name, sink);
        let live = true;
        host.visibleRowPages(name, (rows) => live && sink.hydratePage(rows)).then(
          () => {
            if (live) sink.hydrated();
          },
          (error: unknown) => {
            if (live) params.markError(error);
          },
        );
        return () => {
          live = false;
          detach();
        };
      },
    },
    onInsert: handler,
    onUpdate: handler,
    onDelete: handler,
    utils: {
      history: (key: TKey) => host.history(name, key),
    },
  };
  // `schema` is internal (a pass-through check), so the row type stays `T`.
  return config as unknown as CollectionConfig<T, TKey, never, EventSourcedCollectionUtils<TKey>>;
}

/** The TanStack options a definition sets (only those: a definition cannot replace the binding's own). */
function passThroughOptions<T extends object, TKey extends string | number>(
  definition: CollectionDefinition<T, TKey>,
): PassThroughCollectionOptions<T, TKey> {
  const picked: Record<string, unknown> = {};
  for (const name of PASS_THROUGH_OPTIONS) {
    if (definition[name] !== undefined) picked[name] = definition[name];
  }
  return picked as PassThroughCollectionOptions<T, TKey>;
}
