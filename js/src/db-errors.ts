/**
 * Typed errors of the TanStack binding. All extend `EventSourcedError`, so
 * `instanceof EventSourcedError` and `error.code` work for every failure.
 */

import { EventSourcedError, type ClientErrorCode } from './protocol.js';

/**
 * A row holds a value that cannot be stored as JSON (a function, symbol,
 * BigInt, cycle, class instance, non-finite number...). Thrown by
 * `insert`/`update` before anything is applied.
 */
export class NotStorableError extends EventSourcedError {
  /** The collection the row was written to. */
  readonly collection: string;
  /** Path of the offending field, e.g. `meta.tags[2]` (`''` for the row itself). */
  readonly path: string;

  constructor(collection: string, path: string, what: string) {
    const where = path === '' ? 'the row' : `field "${path}"`;
    super('NOT_SERIALIZABLE', `${collection}: ${where} cannot be stored: ${what}`);
    this.name = 'NotStorableError';
    this.collection = collection;
    this.path = path;
  }
}

/**
 * The core refused or failed to capture a transaction (storage full or
 * unavailable, an invalid mutation, a closed database). Nothing of the
 * transaction was stored; TanStack rolls its optimistic state back.
 */
export class CaptureError extends EventSourcedError {
  /** The collections the transaction touched. */
  readonly collections: readonly string[];
  override readonly cause: unknown;

  constructor(code: ClientErrorCode, message: string, collections: readonly string[], cause: unknown) {
    super(code, `capture failed (${collections.join(', ')}): ${message}`, {
      transient: cause instanceof EventSourcedError ? cause.transient : false,
    });
    this.name = 'CaptureError';
    this.collections = collections;
    this.cause = cause;
  }
}

/** Codes that mean the local storage itself failed (reported to `onStorageFailure`). */
export function isStorageFailure(code: string): boolean {
  return code === 'STORAGE' || code === 'STORAGE_FULL' || code === 'STORAGE_UNAVAILABLE' || code === 'WORKER_UNAVAILABLE';
}

/** Any thrown value as an `EventSourcedError` (keeping it when it is one). */
export function asEventSourcedError(e: unknown): EventSourcedError {
  if (e instanceof EventSourcedError) return e;
  const message = e instanceof Error ? e.message : String(e);
  return new EventSourcedError('INTERNAL', message);
}
