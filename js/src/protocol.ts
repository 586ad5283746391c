/**
 * The message protocol between a main-thread client and the core's host
 * (a dedicated worker, or the same thread in in-process mode).
 *
 * Everything here is plain data (structured-clonable), so the same messages
 * can later travel from other tabs to the leader tab's worker over a
 * BroadcastChannel: a relay only has to rewrite request ids and route
 * `callback` messages back to the tab that sent the request (`requestId`).
 *
 * - The client sends `requests` batches (all requests made in one tick go in
 *   one message); the host answers with `responses` batches.
 * - The host may call back into the client while serving a request
 *   (`callback`: the app's headers function, a custom transport's push/pull),
 *   because functions cannot cross to a worker; the client answers with
 *   `callbackResult`.
 * - The host pushes `notify` messages: visible changes after sync, rejections,
 *   sync status, closing.
 */

import type {
  ErrorCode,
  EventQuery,
  HeadersInit,
  Key,
  LogCounts,
  LoggedEvent,
  Mutation,
  OpenOptions,
  Rejection,
  SyncOptions,
  VisibleChange,
  VisibleRow,
  VisibleRowsPage,
} from './eventsourced_db.js';

export type {
  CollectionDef,
  Confirmation,
  ErrorCode,
  EventQuery,
  EventStatus,
  HeadersInit,
  Key,
  LogCounts,
  LoggedEvent,
  Mutation,
  MutationType,
  OpenOptions,
  PullResponse,
  PulledEvent,
  PushResponse,
  Rejection,
  RejectedEvent,
  Row,
  Snapshot,
  SyncOptions,
  SyncTransport,
  VisibleChange,
  VisibleRow,
  VisibleRowsPage,
  WireEvent,
} from './eventsourced_db.js';

/** Bumped on any incompatible change of these messages. */
export const PROTOCOL_VERSION = 1;

/** The sync target as posted: URLs and fixed headers, or "ask me". */
export type WireTransport =
  | {
      kind: 'http';
      push: string;
      pull: string;
      snapshot?: string;
      timeoutMs?: number;
      /** Fixed headers for every request. */
      headers?: HeadersInit;
      /** Ask the client (`callback` method `headers`) before every request. */
      dynamicHeaders?: boolean;
    }
  | {
      /** The client's `{ push, pull, snapshot? }` functions, called back. */
      kind: 'custom';
      hasSnapshot: boolean;
    };

/** Arguments of a request that has none. */
export type NoArgs = Record<never, never>;

/** What the client can ask, with the result type of each. */
export interface Operations {
  /** `acks`: the client acknowledges each `changes` notification (`{ type: 'ack' }`). */
  open: { args: { name: string; options: OpenOptions; wasmUrl?: string; notifyCaptures?: boolean; acks?: boolean }; result: OpenInfo };
  /**
   * A large capture's `mutations` come as JSON text (one string to clone,
   * passed to the core as is) with `rows`, the rows they touch
   * (`[collection, key]`); a small one's as objects, which clone cheaper
   * than thousands of small `JSON.stringify` calls cost.
   */
  capture: {
    args: { mutations: Mutation[]; rows?: undefined } | { mutations: string; rows: Array<[string, Key]> };
    /** The changes, or (for a capture sent as text) their JSON text. */
    result: VisibleChange[] | string;
  };
  /**
   * A page of rows in key order after `after`, as JSON text: one string
   * crosses, parsed once by the client. `rows` is a `VisibleRow[]`; with
   * `valuesOnly` the answer has `values` instead, the rows without their
   * keys (hydration's form: a third less to parse). A host older than
   * `valuesOnly` answers `rows`. `next` is the next page's `after`, `null`
   * at the end.
   */
  visibleRows: {
    args: { collection: string; after?: string; limit: number; valuesOnly?: boolean };
    result: VisibleRowsPage;
  };
  events: { args: { query?: EventQuery }; result: LoggedEvent[] };
  history: { args: { collection: string; key: Key }; result: LoggedEvent[] };
  rejections: { args: NoArgs; result: Rejection[] };
  clearRejection: { args: { eventId: string }; result: boolean };
  counts: { args: NoArgs; result: LogCounts };
  info: { args: NoArgs; result: OpenInfo };
  sync: { args: { transport: WireTransport; options?: SyncOptions }; result: WireSyncResult };
  close: { args: NoArgs; result: void };
}

export type Op = keyof Operations;

/** One request: `{ op, ...args }`. */
export type Request = { [K in Op]: { op: K } & Operations[K]['args'] }[Op];

/** Identity of an open database. */
export interface OpenInfo {
  name: string;
  clientId: string;
  cursor: string;
  /** When a sync round last pulled everything (`Date.now()` then); `null` before the first. */
  lastSyncAt: number | null;
  storage: 'opfs' | 'memory';
}

/** A sync round's result as posted (errors as plain data). */
export interface WireSyncResult {
  pushed: number;
  pulled: number;
  rejected: number;
  errors: WireError[];
}

/** Codes of the core (`ErrorCode`) plus the client's own. */
export type ClientErrorCode =
  | ErrorCode
  /** The worker script or the wasm could not be loaded. */
  | 'WORKER_UNAVAILABLE'
  /** A bug: something threw that is not an `EventSourcedError`. */
  | 'INTERNAL';

/** An error as posted: `Error` objects lose their own properties in postMessage. */
export interface WireError {
  name: string;
  code: ClientErrorCode;
  message: string;
  transient?: boolean;
  status?: number;
  /** For errors thrown by an app's transport function: `Retry-After` in ms. */
  retryAfterMs?: number;
  /** For errors thrown by an app's transport function: its own `code`. */
  appCode?: string;
}

export interface RequestEnvelope {
  id: number;
  request: Request;
}

export type ResponseEnvelope =
  | { id: number; ok: true; value: unknown }
  | { id: number; ok: false; error: WireError };

/** The methods the host may call back on the client. */
export type CallbackMethod = 'headers' | 'push' | 'pull' | 'snapshot';

/** Client → host. */
export type ToHost =
  | { type: 'requests'; batch: RequestEnvelope[] }
  /** The client applied a `changes` notification (the host holds later ones until then). */
  | { type: 'ack' }
  | { type: 'callbackResult'; callId: number; ok: true; value: unknown }
  | { type: 'callbackResult'; callId: number; ok: false; error: WireError };

/**
 * Client → worker entry, before any request: the wasm compiled on the page
 * while the worker started (the worker then only instantiates it).
 */
export interface WasmModuleMessage {
  type: 'wasmModule';
  module: WebAssembly.Module;
}

/** Host → client. */
export type FromHost =
  | { type: 'ready'; protocol: number }
  /**
   * `pending`: the log's pending count right after the captures among these
   * responses (only when there were some), so the status display needs no
   * read of its own after each write.
   */
  | { type: 'responses'; batch: ResponseEnvelope[]; pending?: number }
  | { type: 'callback'; callId: number; requestId: number; method: CallbackMethod; args: unknown[] }
  | { type: 'notify'; notification: WireNotification };

/**
 * A notification as posted. Visible changes travel as JSON text: cloning one
 * string costs a copy, where thousands of row objects cost a structured
 * clone on both sides; the receiving client parses it once.
 */
export type WireNotification =
  | Exclude<Notification, { kind: 'changes' }>
  | { kind: 'changes'; cause: 'sync' | 'capture'; changesJson: string };

/** JSON arrays as one JSON array, without parsing them. */
export function joinArrays(texts: string[]): string {
  const parts: string[] = [];
  for (const t of texts) {
    const inner = t.slice(t.indexOf('[') + 1, t.lastIndexOf(']')).trim();
    if (inner.length > 0) parts.push(inner);
  }
  return `[${parts.join(',')}]`;
}

/** A capture's result: the changes, parsed when they came as text. */
export function changesOf(result: VisibleChange[] | string): VisibleChange[] {
  return typeof result === 'string' ? (JSON.parse(result) as VisibleChange[]) : result;
}

/** The posted form of a notification, as its receiver sees it. */
export function fromWireNotification(n: WireNotification): Notification {
  if (n.kind !== 'changes') return n;
  return { kind: 'changes', cause: n.cause, changes: JSON.parse(n.changesJson) as VisibleChange[] };
}

/** The change stream. */
export type Notification =
  /** Visible rows changed: by a sync round, or (with `notifyCaptures`) a capture. */
  | { kind: 'changes'; cause: 'sync' | 'capture'; changes: VisibleChange[] }
  | { kind: 'rejections'; rejections: Rejection[] }
  | { kind: 'status'; status: HostStatus }
  | { kind: 'closed' }
  /**
   * Multi-tab: another tab (or this one, when `isLeader`) now owns the
   * database. Changes made around the switch may not have been streamed:
   * re-read the state. Sent by the client itself, never by a host.
   */
  | { kind: 'leader'; isLeader: boolean };

export interface HostStatus {
  syncing: boolean;
  /** `Date.now()` at the end of the last sync round. */
  lastSyncAt: number | null;
  /** The last round's last error, if it had any. */
  lastError: WireError | null;
}

/**
 * What every client method rejects with. `code` is stable (see
 * `ClientErrorCode`); `transient` says a later retry may succeed as is.
 */
export class EventSourcedError extends Error {
  readonly code: ClientErrorCode;
  readonly transient: boolean;
  readonly status: number | undefined;

  constructor(code: ClientErrorCode, message: string, options: { transient?: boolean; status?: number } = {}) {
    super(message);
    this.name = 'EventSourcedError';
    this.code = code;
    this.transient = options.transient ?? false;
    this.status = options.status;
  }

  /** Rebuilds an error that crossed the boundary. */
  static fromWire(w: WireError): EventSourcedError {
    return new EventSourcedError(w.code, w.message, {
      ...(w.transient !== undefined && { transient: w.transient }),
      ...(w.status !== undefined && { status: w.status }),
    });
  }
}

/** Any thrown value as a `WireError`, keeping `code`, `status`, `retryAfterMs`. */
export function toWireError(e: unknown): WireError {
  if (typeof e === 'object' && e !== null) {
    const o = e as Record<string, unknown>;
    const wire: WireError = {
      name: typeof o.name === 'string' ? o.name : 'Error',
      code: typeof o.code === 'string' && o.name === 'EventSourcedError' ? (o.code as ClientErrorCode) : 'INTERNAL',
      message: typeof o.message === 'string' ? o.message : String(e),
    };
    if (typeof o.transient === 'boolean') wire.transient = o.transient;
    if (typeof o.status === 'number') wire.status = o.status;
    if (typeof o.retryAfterMs === 'number') wire.retryAfterMs = o.retryAfterMs;
    if (typeof o.code === 'string' && wire.code === 'INTERNAL') wire.appCode = o.code;
    return wire;
  }
  return { name: 'Error', code: 'INTERNAL', message: String(e) };
}

/**
 * A two-way pipe from a client to a host: a dedicated worker, the same
 * thread (in-process mode), or later a leader tab over a BroadcastChannel.
 */
export interface Endpoint {
  post(message: ToHost): void;
  /** Registers the one listener of host messages. */
  listen(listener: (message: FromHost) => void): void;
  /** Called when the host dies (a worker error after `ready`). */
  onFailure(listener: (error: WireError) => void): void;
  /** Stops the host (terminates the worker). */
  terminate(): void;
}
