/**
 * The storability check: rows go to SQLite as JSON and come back on other
 * devices, so anything JSON would drop or mangle silently is refused at
 * insert/update time, naming the collection and the field.
 *
 * It is packaged as a Standard Schema so TanStack runs it synchronously in
 * `insert`/`update` (the call throws; nothing becomes optimistic).
 */

import { NotStorableError } from './db-errors.js';

/** Throws `NotStorableError` when `row` is not a plain JSON object tree. */
export function assertStorable(row: unknown, collection: string): void {
  if (!isPlainObject(row)) throw new NotStorableError(collection, '', `a row must be a plain object, got ${describe(row)}`);
  walk(row, '', collection, new Set());
}

function walk(value: unknown, path: string, collection: string, ancestors: Set<object>): void {
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return;
    case 'number':
      if (!Number.isFinite(value)) throw new NotStorableError(collection, path, `${value} is not a finite number`);
      return;
    case 'undefined':
      // Absent fields are fine in objects (JSON omits them); arrays would turn it into null.
      if (path.endsWith(']')) throw new NotStorableError(collection, path, 'undefined in an array (use null)');
      return;
    case 'bigint':
      throw new NotStorableError(collection, path, 'a BigInt (store it as a string or number)');
    case 'symbol':
      throw new NotStorableError(collection, path, 'a symbol');
    case 'function':
      throw new NotStorableError(collection, path, 'a function');
  }
  if (value === null) return;
  const obj = value as object;
  if (ancestors.has(obj)) throw new NotStorableError(collection, path, 'a circular reference');
  ancestors.add(obj);
  if (Array.isArray(obj)) {
    for (let i = 0; i < obj.length; i++) walk(obj[i], `${path}[${i}]`, collection, ancestors);
  } else if (isPlainObject(obj)) {
    for (const key of Object.keys(obj)) {
      walk((obj as Record<string, unknown>)[key], path === '' ? key : `${path}.${key}`, collection, ancestors);
    }
  } else {
    throw new NotStorableError(collection, path, `${describe(obj)} (only plain objects, arrays and primitives are stored)`);
  }
  ancestors.delete(obj);
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return false;
  const proto = Object.getPrototypeOf(v) as unknown;
  return proto === Object.prototype || proto === null;
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (typeof v !== 'object') return typeof v;
  const name = (Object.getPrototypeOf(v) as { constructor?: { name?: string } } | null)?.constructor?.name;
  return name ? `an instance of ${name}` : 'an object';
}

/** The part of Standard Schema v1 that TanStack calls (kept local: no type dependency). */
export interface StorableSchema {
  readonly '~standard': {
    readonly version: 1;
    readonly vendor: string;
    validate(value: unknown): { value: unknown };
  };
}

/** A synchronous Standard Schema that passes rows through unchanged after the check. */
export function storableSchema(collection: string): StorableSchema {
  return {
    '~standard': {
      version: 1,
      vendor: 'eventsourced-db',
      validate(value: unknown) {
        assertStorable(value, collection);
        return { value };
      },
    },
  };
}
