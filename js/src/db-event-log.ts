/**
 * `db.eventLog`: a read-only TanStack collection mirroring the core's event
 * log, so live queries and `createEffect` can watch events and their sync
 * status. It loads lazily (on first subscription) and then follows the log:
 * each refresh reads only events newer than the oldest one still pending.
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

export class EventLogFeed {
  private params: SyncParams | null = null;
  /** eventId → the status fields last written, to write only what changed. */
  private readonly shown = new Map<string, string>();
  private readonly pendingSeqs = new Set<number>();
  private maxSeq = 0;
  private running = false;
  private again = false;

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
          this.refresh(true);
          return () => {
            this.params = null;
          };
        },
      },
    };
  }

  /** Reads what changed in the log since the last refresh (coalesced). */
  refresh(initial = false): void {
    if (!this.params) return;
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = true;
    void this.load(initial).finally(() => {
      this.running = false;
      if (this.again) {
        this.again = false;
        this.refresh();
      }
    });
  }

  private async load(initial: boolean): Promise<void> {
    const params = this.params;
    if (!params) return;
    let after = this.maxSeq;
    for (const seq of this.pendingSeqs) after = Math.min(after, seq - 1);
    let events: LoggedEvent[];
    try {
      events = await this.client.events({ afterSeq: after });
    } catch (e) {
      if (initial) params.markError(e);
      return;
    }
    if (params !== this.params) return;
    const { begin, write, commit, markReady } = params;
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
    if (initial) markReady();
  }
}

function syncStatusOf(e: LoggedEvent): EventSyncStatus {
  if (e.status === 'confirmed') return 'confirmed';
  if (e.status === 'rejected') return 'rejected';
  return 'pending';
}
