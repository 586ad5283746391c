import type { ChangeEvent } from 'react';
import { useSyncStatus } from '@eventsourced/db/react';
import { offlineSwitch, useDb } from '../db';

/** Online/offline, pending events, last sync, and the "work offline" switch. */
export function SyncBadge() {
  const db = useDb();
  const status = useSyncStatus(db);

  const onSwitch = (e: ChangeEvent<HTMLInputElement>) => {
    const offline = e.target.checked;
    offlineSwitch.set(offline);
    if (offline) db.pauseSync();
    else db.resumeSync();
  };

  const state = status.paused
    ? 'paused'
    : !status.online
      ? 'offline'
      : status.lastError
        ? 'error'
        : status.syncing
          ? 'syncing'
          : 'online';
  const label = {
    paused: 'Offline (sync paused)',
    offline: 'Offline (no network)',
    error: 'Online, sync failing',
    syncing: 'Syncing…',
    online: 'Online',
  }[state];

  return (
    <div className="sync" data-state={state} data-testid="sync-badge">
      <span className="dot" aria-hidden />
      <span className="sync-label" title={status.lastError?.message}>
        {label}
      </span>
      <span className="pending" data-testid="pending-count" data-count={status.pendingCount}>
        {status.pendingCount} pending
      </span>
      <span className="last-sync">
        {/* After a reload, until the first round: the time of the newest confirmed event. */}
        {status.lastSyncAt ? `synced ${new Date(status.lastSyncAt).toLocaleTimeString()}` : 'not synced yet'}
      </span>
      <label className="switch">
        <input type="checkbox" checked={status.paused} onChange={onSwitch} data-testid="offline-switch" />
        Work offline
      </label>
    </div>
  );
}
