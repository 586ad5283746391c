/**
 * Observable state of a database: the sync status and the open rejections.
 * Each keeps an immutable snapshot that changes identity only when its
 * content changes, as `useSyncExternalStore` requires.
 */

import type { Rejection } from './eventsourced_db.js';
import type { EventSourcedError } from './protocol.js';

/** A snapshot of the sync status. */
export interface SyncStatus {
  /** The browser reports a network (`navigator.onLine`; always true in Node). */
  readonly online: boolean;
  /** Auto-sync paused by the app (`db.pauseSync()`, or opened with `autoSync: { paused: true }`). */
  readonly paused: boolean;
  /** A sync round is running. */
  readonly syncing: boolean;
  /** Local events not yet confirmed by the server. */
  readonly pendingCount: number;
  /**
   * `Date.now()` at the end of the last sync round. Until this page's first
   * round, the time of the newest confirmed event in the log (the device
   * synced at least that recently); `null` when there is none.
   */
  readonly lastSyncAt: number | null;
  /** The last round's last error; `null` after a clean round. */
  readonly lastError: EventSourcedError | null;
}

/** A value that can be read now and watched. */
export interface Observable<T> {
  /** The current snapshot (same object until something changes). */
  get(): T;
  /** Calls `listener` with each new snapshot; returns the unsubscribe function. */
  subscribe(listener: (value: T) => void): () => void;
}

/** Holds a snapshot and tells listeners when it is replaced. */
export class Store<T extends object> implements Observable<T> {
  private readonly listeners = new Set<(value: T) => void>();

  constructor(private value: T) {}

  get(): T {
    return this.value;
  }

  subscribe(listener: (value: T) => void): () => void {
    this.listeners.add(listener);
    return () => {
      this.listeners.delete(listener);
    };
  }

  /** Replaces the snapshot when `patch` changes something. */
  update(patch: Partial<T>): void {
    let changed = false;
    for (const k of Object.keys(patch) as Array<keyof T>) {
      if (!Object.is(this.value[k], patch[k])) changed = true;
    }
    if (changed) this.set({ ...this.value, ...patch });
  }

  set(value: T): void {
    this.value = value;
    for (const l of [...this.listeners]) {
      try {
        l(value);
      } catch (e) {
        console.error('eventsourced-db: a status listener threw', e);
      }
    }
  }
}

/**
 * `db.status`: the current fields as properties, plus `get()` (a stable
 * snapshot) and `subscribe`.
 */
export class SyncStatusView implements SyncStatus, Observable<SyncStatus> {
  constructor(private readonly store: Store<SyncStatus>) {}
  get online(): boolean {
    return this.store.get().online;
  }
  get paused(): boolean {
    return this.store.get().paused;
  }
  get syncing(): boolean {
    return this.store.get().syncing;
  }
  get pendingCount(): number {
    return this.store.get().pendingCount;
  }
  get lastSyncAt(): number | null {
    return this.store.get().lastSyncAt;
  }
  get lastError(): EventSourcedError | null {
    return this.store.get().lastError;
  }
  get(): SyncStatus {
    return this.store.get();
  }
  subscribe(listener: (status: SyncStatus) => void): () => void {
    return this.store.subscribe(listener);
  }
}

/** The open rejections, kept in step with the core. */
export class RejectionList implements Observable<readonly Rejection[]> {
  private readonly store = new Store<{ list: readonly Rejection[] }>({ list: [] });

  get(): readonly Rejection[] {
    return this.store.get().list;
  }

  subscribe(listener: (rejections: readonly Rejection[]) => void): () => void {
    return this.store.subscribe((s) => listener(s.list));
  }

  reset(list: readonly Rejection[]): void {
    this.store.set({ list: [...list] });
  }

  add(more: readonly Rejection[]): void {
    const seen = new Set(this.get().map((r) => r.eventId));
    const fresh = more.filter((r) => !seen.has(r.eventId));
    if (fresh.length > 0) this.store.set({ list: [...this.get(), ...fresh] });
  }

  remove(eventId: string): void {
    const list = this.get().filter((r) => r.eventId !== eventId);
    if (list.length !== this.get().length) this.store.set({ list });
  }
}
