/**
 * `db.eventLog`: a read-only TanStack collection mirroring the core's event
 * log, so live queries and `createEffect` can watch events and their sync
 * status. It loads lazily (on first subscription) and then follows the log:
 * a refresh after writes reads only the events they appended; one after a
 * sync round (which changes the status of events already shown) reads the
 * events newer than the oldest one still pending.
 */

import type { CollectionConfig, SyncConfig } from '@tanstack/db';
import type { CoreClient } from './client.js';
import type { LoggedEvent } from './eventsourced_db.js';

/** Sync status of an event as the event log shows it. */
export type EventSyncStatus = 'pending' | 'confirmed' | 'rejected';

/** A row of `db.eventLog`: one event of the log. */
export interface EventLogEntry extends LoggedEvent {
  /** `pending` until the server ordered the event (the core's `sent` counts as pending). */
  syncStatus: EventSyncStatus;
}

type SyncParams = Parameters<SyncConfig<EventLogEntry, string>['sync']>[0];

/**
 * What a refresh must read: `appended`, the events newer than any shown
 * (after captures: they change no older event); `all`, also every event
 * still pending (after a round, a rejection, a new leader).
 */
export type RefreshScope = 'appended' | 'all';

/** Events per read of the log (the core answers at most 1000 by default). */
const EVENTS_PAGE = 1000;

export class EventLogFeed {
  private params: SyncParams | null = null;
  /** eventId → the status fields last written, to write only what changed. */
  private readonly shown = new Map<string, string>();
  private readonly pendingSeqs = new Set<number>();
  private maxSeq = 0;
  private running = false;
  /** A refresh asked for while one ran, and the widest scope asked. */
  private again: RefreshScope | null = null;

  constructor(private readonly client: CoreClient) {}

  /** The collection options (id `${name}:events`); it starts on first use. */
  options(id: string): CollectionConfig<EventLogEntry, string> {
    return {
      id,
      getKey: (e) => e.eventId,
      gcTime: 0,
      startSync: false,
      sync: {
        rowUpdateMode: 'full',
        sync: (params) => {
          this.params = params;
          this.shown.clear();
          this.pendingSeqs.clear();
          this.maxSeq = 0;
          this.refresh('all', true);
          return () => {
            this.params = null;
          };
        },
      },
    };
  }

  /**
   * Reads what changed in the log since the last refresh (coalesced): with
   * `appended`, O(new events), so a log with many pending events (offline)
   * costs a capture nothing more.
   */
  refresh(scope: RefreshScope = 'all', initial = false): void {
    if (!this.params) return;
    if (this.running) {
      this.again = this.again === 'all' || scope === 'all' ? 'all' : 'appended';
      return;
    }
    this.running = true;
    void this.load(scope, initial).finally(() => {
      this.running = false;
      const again = this.again;
      if (again !== null) {
        this.again = null;
        this.refresh(again);
      }
    });
  }

  private async load(scope: RefreshScope, initial: boolean): Promise<void> {
    const params = this.params;
    if (!params) return;
    let after = this.maxSeq;
    if (scope === 'all') for (const seq of this.pendingSeqs) after = Math.min(after, seq - 1);
    // Page by page: one query answers at most `EVENTS_PAGE` events.
    for (;;) {
      let events: LoggedEvent[];
      try {
        events = await this.client.events({ afterSeq: after, limit: EVENTS_PAGE });
      } catch (e) {
        if (initial) params.markError(e);
        return;
      }
      if (params !== this.params) return;
      this.show(params, events);
      if (events.length < EVENTS_PAGE) break;
      after = events[events.length - 1]!.seq;
    }
    if (initial) params.markReady();
  }

  /** Writes the events whose status the collection does not show yet. */
  private show(params: SyncParams, events: readonly LoggedEvent[]): void {
    const { begin, write, commit } = params;
    let began = false;
    for (const e of events) {
      const entry: EventLogEntry = { ...e, syncStatus: syncStatusOf(e) };
      const stamp = `${e.status}|${e.globalSeq ?? ''}|${e.rejectCode ?? ''}`;
      const before = this.shown.get(e.eventId);
      if (before === stamp) continue;
      if (!began) {
        begin();
        began = true;
      }
      write({ type: before === undefined ? 'insert' : 'update', value: entry });
      this.shown.set(e.eventId, stamp);
      if (entry.syncStatus === 'pending') this.pendingSeqs.add(e.seq);
      else this.pendingSeqs.delete(e.seq);
      this.maxSeq = Math.max(this.maxSeq, e.seq);
    }
    if (began) commit();
  }
}

function syncStatusOf(e: LoggedEvent): EventSyncStatus {
  if (e.status === 'confirmed') return 'confirmed';
  if (e.status === 'rejected') return 'rejected';
  return 'pending';
}
