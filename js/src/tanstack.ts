/**
 * The public API of the TanStack DB binding (re-exported by the package entry).
 */

export { createEventSourcedDB } from './db.js';
export type {
  CollectionDefinitions,
  CollectionsOf,
  EventSourcedDB,
  EventSourcedDBConfig,
  KeyOf,
  SyncResult,
  SyncUrlConfig,
} from './db.js';
export { eventSourcedCollectionOptions, RowSink } from './db-collection.js';
export type { CollectionDefinition, CollectionHost, EventSourcedCollectionUtils, TransactionLike } from './db-collection.js';
export type { AutoSyncOptions } from './db-auto-sync.js';
export type { EventLogEntry, EventSyncStatus } from './db-event-log.js';
export type { Observable, SyncStatus, SyncStatusView } from './db-status.js';
export { CaptureError, NotStorableError } from './db-errors.js';
export { assertStorable } from './db-storable.js';
