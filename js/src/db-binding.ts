/**
 * The hub between the TanStack collections and the core client: turns a
 * TanStack transaction into one `capture` call (one SQLite transaction, even
 * when it spans collections) and routes the core's visible changes to the
 * collections' sinks.
 */

import type { CoreClient } from './client.js';
import type { Key, LoggedEvent, Mutation, VisibleChange } from './eventsourced_db.js';
import type { CollectionHost, RowSink, TransactionLike } from './db-collection.js';
import { CaptureError, asEventSourcedError } from './db-errors.js';

export interface BindingHooks {
  /**
   * A capture succeeded (schedule a push, refresh counts and the event log);
   * called as its answer arrives. `pending`: the log's pending count it
   * left, when the answer carried it (`null`: read it).
   */
  afterCapture(pending: number | null): void;
  /** A capture failed; the transaction is rolled back with this error. */
  captureFailed(error: CaptureError): void;
}

export class Binding implements CollectionHost {
  private readonly sinks = new Map<string, RowSink>();
  /** TanStack collection object → our collection name. */
  private readonly names = new Map<unknown, string>();
  /** One capture per transaction, whichever handler asks first. */
  private readonly inflight = new WeakMap<object, Promise<void>>();
  /** Capture results of this tick, written back together (see `writeBack`). */
  private written: VisibleChange[] = [];
  private writing: Promise<void> | null = null;

  constructor(
    private readonly client: CoreClient,
    private readonly hooks: BindingHooks,
  ) {}

  /** Tells the binding which name a TanStack collection object stands for. */
  register(collection: unknown, name: string): void {
    this.names.set(collection, name);
  }

  attach(collection: string, sink: RowSink): () => void {
    this.sinks.set(collection, sink);
    return () => {
      if (this.sinks.get(collection) === sink) this.sinks.delete(collection);
    };
  }

  visibleRowPages(collection: string, onPage: Parameters<CollectionHost['visibleRowPages']>[1]): Promise<void> {
    return this.client.visibleRowPages(collection, onPage);
  }

  history(collection: string, key: Key): Promise<LoggedEvent[]> {
    return this.client.history(collection, key);
  }

  /**
   * Persists every mutation of `transaction`, of any of our collections, in
   * one capture. TanStack calls one handler per transaction, but a second
   * call for the same transaction (another collection's handler, or an app's
   * `mutationFn` calling in) gets the same promise: nothing is captured twice.
   */
  persist(transaction: TransactionLike): Promise<void> {
    let p = this.inflight.get(transaction);
    if (!p) {
      p = this.capture(transaction);
      this.inflight.set(transaction, p);
    }
    return p;
  }

  /** Routes visible changes to their collections, one sync transaction each. */
  applyChanges(changes: readonly VisibleChange[]): void {
    const byCollection = new Map<string, VisibleChange[]>();
    for (const c of changes) {
      const list = byCollection.get(c.collection);
      if (list) list.push(c);
      else byCollection.set(c.collection, [c]);
    }
    for (const [name, list] of byCollection) this.sinks.get(name)?.apply(list);
  }

  /** Makes a collection's synced state equal the core's rows (after a gap in the change stream). */
  reconcile(collection: string, rows: ReadonlyArray<{ key: Key; value: Record<string, unknown> }>): void {
    this.sinks.get(collection)?.reconcile(rows);
  }

  private async capture(transaction: TransactionLike): Promise<void> {
    const mutations: Mutation[] = [];
    const touched = new Set<string>();
    for (const m of transaction.mutations) {
      const name = this.names.get(m.collection);
      if (name === undefined) {
        // A collection of another library in the same transaction: not ours to capture.
        continue;
      }
      touched.add(name);
      mutations.push({
        collection: name,
        type: m.type,
        key: m.key as Key,
        modified: m.type === 'delete' ? null : (m.modified as Mutation['modified']),
        original: m.type === 'insert' ? null : (m.original as Mutation['original']),
        changes: m.type === 'update' ? (m.changes as Mutation['changes']) : null,
      });
    }
    if (mutations.length === 0) return;
    // The client gives each mutation its event id, once: if another tab
    // takes the database over before answering, the same request is sent
    // again and the core applies it once, reporting rows it had already
    // written as `update`s (or `delete`s) as they stand now. The sink writes
    // an `update` of a key it does not hold as an `insert`.
    let changes: VisibleChange[];
    let pending: number | null;
    try {
      changes = await this.client.capture(mutations);
      pending = this.client.pendingAfterCaptures();
    } catch (e) {
      const cause = asEventSourcedError(e);
      const error = new CaptureError(cause.code, cause.message, [...touched], e);
      this.hooks.captureFailed(error);
      throw error;
    }
    // Now, in the task of the answer: a count read later (after a round)
    // must be able to overwrite this one, never the other way round.
    this.hooks.afterCapture(pending);
    // Before this handler resolves: the confirmed rows must be in the
    // synced state when TanStack drops the optimistic overlay.
    await this.writeBack(changes);
  }

  /**
   * Writes capture results into the synced state, those of every capture
   * answered in the same tick in one sync transaction per collection: a
   * burst of separate inserts costs TanStack one commit, not one each (each
   * commit walks every transaction still pending). Resolves once written;
   * no stream notification can come between (it is a later task).
   */
  private writeBack(changes: readonly VisibleChange[]): Promise<void> {
    for (const c of changes) this.written.push(c);
    this.writing ??= new Promise((resolve, reject) =>
      queueMicrotask(() => {
        const all = this.written;
        this.written = [];
        this.writing = null;
        try {
          this.applyChanges(all);
          resolve();
        } catch (e) {
          reject(e);
        }
      }),
    );
    return this.writing;
  }
}
