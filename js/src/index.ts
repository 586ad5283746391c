/**
 * `@eventsourced/db`: an event-sourced, local-first database for TanStack DB.
 * This entry exports the core client; the TanStack binding builds on it.
 */

export { CoreClient } from './client.js';
export type { CoreClientOptions, HttpSyncTarget, SyncRoundResult, SyncTarget } from './client.js';
export { EventSourcedError, PROTOCOL_VERSION } from './protocol.js';
export type * from './protocol.js';
export * from './tanstack.js';
