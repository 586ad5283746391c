/**
 * `@eventsourced/db/react`: hooks over a database's observable state.
 * `useLiveQuery` itself comes from `@tanstack/react-db`.
 */

import { useCallback, useSyncExternalStore } from 'react';
import type { Rejection } from './eventsourced_db.js';
import type { Observable, SyncStatus } from './db-status.js';

/** The sync status of `db` (online, syncing, pendingCount, lastSyncAt, lastError); re-renders on change. */
export function useSyncStatus(db: { readonly status: Observable<SyncStatus> }): SyncStatus {
  return useObservable(db.status);
}

/** The open rejections of `db` (clear one with `db.clearRejection(id)`); re-renders on change. */
export function useRejections(db: { readonly rejectionList: Observable<readonly Rejection[]> }): readonly Rejection[] {
  return useObservable(db.rejectionList);
}

function useObservable<T>(source: Observable<T>): T {
  const subscribe = useCallback((onChange: () => void) => source.subscribe(() => onChange()), [source]);
  const get = useCallback(() => source.get(), [source]);
  return useSyncExternalStore(subscribe, get, get);
}
