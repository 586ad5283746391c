//! The TypeScript types of the exported API, written once here so the
//! generated `.d.ts` is typed (the Rust side takes `JsValue` and converts
//! with serde; these describe the shapes serde reads and writes).

use wasm_bindgen::prelude::*;

#[wasm_bindgen(typescript_custom_section)]
const TS_TYPES: &'static str = r#"
/** A row key as `getKey` returned it. */
export type Key = string | number;
/** A JSON object row. */
export type Row = Record<string, unknown>;
export type MutationType = 'insert' | 'update' | 'delete';

/** One TanStack DB mutation handed to `capture`. */
export interface Mutation {
  collection: string;
  type: MutationType;
  key: Key;
  /** The row after the change (insert, update). */
  modified?: Row | null;
  /** The row before the change (update, delete). */
  original?: Row | null;
  /** For an update, only the changed fields. */
  changes?: Row | null;
  /**
   * The event id (a UUID) to record this mutation under. A capture whose id
   * is already in the log is not applied twice: it reports the row as it
   * stands. Minted by the core when absent.
   */
  eventId?: string;
}

/** One change of the visible state; for a delete `value` is the row before. */
export interface VisibleChange {
  collection: string;
  key: Key;
  type: MutationType;
  value: Row;
}

/** One row of the visible state, for hydration. */
export interface VisibleRow {
  key: Key;
  value: Row;
}

export type EventStatus = 'pending' | 'sent' | 'confirmed' | 'rejected';

/** One event of the local log. */
export interface LoggedEvent {
  seq: number;
  eventId: string;
  collectionId: string;
  type: string;
  key: Key;
  payload: Row;
  changes: Row | null;
  timestamp: number;
  origin: 'local' | 'remote';
  status: EventStatus;
  globalSeq: number | null;
  rejectCode: string | null;
  rejectReason: string | null;
}

/** A rejected event, kept until cleared. */
export interface Rejection {
  eventId: string;
  collectionId: string;
  key: Key;
  type: string;
  payload: Row;
  code: string;
  reason: string;
  timestamp: number;
}

/** Filter of `events`. */
export interface EventQuery {
  collection?: string;
  key?: Key;
  status?: EventStatus;
  afterSeq?: number;
  limit?: number;
}

export interface LogCounts {
  pending: number;
  rejected: number;
  total: number;
}

export interface CollectionDef {
  name: string;
  keyKind?: 'string' | 'number' | 'unknown';
}

/** Options of `EventSourcedCore.open`. */
export interface OpenOptions {
  /** `'opfs'` (default; needs a dedicated worker) or `'memory'` (nothing persists). */
  storage?: 'opfs' | 'memory';
  collections?: CollectionDef[];
  schemaVersion?: number;
}

export type HeadersInit = Record<string, string>;

/** The HTTP sync protocol; absolute URLs. */
export interface HttpSyncConfig {
  push: string;
  pull: string;
  snapshot?: string;
  /** Time limit of one request, body included (default 30000). */
  timeoutMs?: number;
  /** Fixed headers, or a function called before every request. */
  headers?: HeadersInit | (() => HeadersInit | Promise<HeadersInit>);
}

/** An event as pushed to the server. */
export interface WireEvent {
  eventId: string;
  collectionId: string;
  type: MutationType;
  key: Key;
  payload: Row;
  timestamp: number;
  changes?: Row;
  clientId?: string;
  schemaVersion?: number;
}

export interface Confirmation { eventId: string; globalSeq: number }
export interface RejectedEvent { eventId: string; code: string; reason: string }
export interface PushResponse { confirmed: Confirmation[]; rejected?: RejectedEvent[] }

/** An event of a pull page. */
export interface PulledEvent {
  globalSeq: number;
  eventId: string;
  collectionId: string;
  type: string;
  key: Key;
  payload?: unknown;
  timestamp?: number;
  changes?: Row;
  clientId?: string;
  schemaVersion?: number;
  cursor?: string;
}

export interface PullResponse { events: PulledEvent[]; cursor: string; hasMore: boolean }
export interface Snapshot { rows: { collectionId: string; key: Key; value: Row }[]; cursor: string }

/**
 * A custom transport. A thrown error with a numeric `status` (and optional
 * `retryAfterMs`, `code`) is classified like an HTTP answer; any other
 * thrown error is transient (retried).
 */
export interface SyncTransport {
  push(events: WireEvent[]): Promise<PushResponse | Confirmation[]>;
  pull(since: string, limit: number): Promise<PullResponse>;
  snapshot?(): Promise<Snapshot>;
}

export interface SyncOptions {
  batchSize?: number;
  pullLimit?: number;
  maxAttempts?: number;
  baseDelayMs?: number;
  maxDelayMs?: number;
}

/**
 * A page of `EventSourcedCore.visibleRowsPage`: `rows`, a `VisibleRow[]` as
 * JSON text, or, when only values were asked for, `values`, the rows
 * themselves as JSON text. `next`: `after` for the next page; `null` after
 * the last.
 */
export type VisibleRowsPage =
  | { rows: string; values?: undefined; next: string | null }
  | { values: string; rows?: undefined; next: string | null };

/** Argument of `EventSourcedCore.sync`. */
export interface SyncRequest {
  transport: HttpSyncConfig | SyncTransport;
  options?: SyncOptions;
  /**
   * Called as each pulled page (or rejection) changes visible rows, with the
   * `VisibleChange[]` as JSON text: a worker posts the string on as it is
   * (one copy instead of a structured clone of every row) and the receiver
   * parses it once.
   */
  onChanges?: (changesJson: string) => void;
  onRejections?: (rejections: Rejection[]) => void;
}

export type ErrorCode =
  | 'STORAGE_FULL' | 'STORAGE_UNAVAILABLE' | 'STORAGE' | 'SCHEMA_TOO_NEW'
  | 'INVALID_MUTATION' | 'NOT_SERIALIZABLE' | 'MALFORMED_RESPONSE' | 'NETWORK'
  | 'UNAUTHORIZED' | 'HTTP' | 'UNRECOGNIZED_EVENT' | 'INVALID_CONFIG' | 'CLOSED';

/** What every method throws: an `Error` named `EventSourcedError`. */
export interface EventSourcedErrorShape extends Error {
  name: 'EventSourcedError';
  code: ErrorCode;
  /** A later retry may succeed without any change. */
  transient: boolean;
  /** HTTP status, when there was a response. */
  status?: number;
}

export interface SyncResult {
  pushed: number;
  pulled: number;
  rejected: number;
  /** Non-fatal errors of the round, in order. */
  errors: EventSourcedErrorShape[];
}
"#;
