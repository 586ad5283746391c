/**
 * The app's database: two event-sourced collections (projects, todos) synced
 * with the reference server. Every insert/update/delete on them becomes an
 * event in the local SQLite log (OPFS) and is pushed when sync runs.
 */

import { createContext, useContext } from 'react';
import { BasicIndex } from '@tanstack/db';
import { createEventSourcedDB, type EventSourcedDB } from '@eventsourced/db';

export interface Project {
  id: string;
  name: string;
  createdAt: number;
}

export interface Todo {
  id: string;
  projectId: string;
  title: string;
  done: boolean;
  createdAt: number;
}

const collections = {
  projects: { getKey: (p: Project) => p.id, keyKind: 'string' },
  todos: { getKey: (t: Todo) => t.id, keyKind: 'string' },
} as const;

export type TodoDB = EventSourcedDB<typeof collections>;

/** Build-time setting; the server allows loopback origins, so no proxy is needed. */
export const SYNC_URL: string = import.meta.env.VITE_SYNC_URL || 'http://127.0.0.1:8787/api/events';

const OFFLINE_KEY = 'todo-demo:offline';

/** The "work offline" switch survives reloads, so a reload while offline does not push. */
export const offlineSwitch = {
  get: (): boolean => localStorage.getItem(OFFLINE_KEY) === '1',
  set: (offline: boolean): void => localStorage.setItem(OFFLINE_KEY, offline ? '1' : '0'),
};

export async function openDb(): Promise<TodoDB> {
  const db = await createEventSourcedDB({
    name: 'todo-demo',
    sync: { push: SYNC_URL, pull: SYNC_URL },
    collections,
    // Switched offline before the reload: open with sync paused (no push, no pull).
    autoSync: { paused: offlineSwitch.get() },
  });
  try {
    // The todo list joins todos to projects and each project counts its
    // todos: both look todos up by projectId.
    db.collections.todos.createIndex((t) => t.projectId, { indexType: BasicIndex });
  } catch (e) {
    await db.dispose();
    throw e;
  }
  return db;
}

export const DbContext = createContext<TodoDB | null>(null);

export function useDb(): TodoDB {
  const db = useContext(DbContext);
  if (!db) throw new Error('useDb() needs a <DbContext> above it');
  return db;
}

export function newId(): string {
  return crypto.randomUUID();
}

/**
 * Runs one collection write. Both ways it can fail are reported: a value
 * that cannot be stored throws at once; a local capture failure rejects the
 * transaction (TanStack then rolls the optimistic row back by itself).
 */
export function write(mutate: () => { when(state: 'settled'): Promise<unknown> }): void {
  try {
    mutate()
      .when('settled')
      .catch((e: unknown) => console.error('write failed', e));
  } catch (e) {
    console.error('write refused', e);
  }
}
