// Type-level tests of the built package's declarations: `tsc --noEmit`
// fails if the README's usage stops type-checking or inference regresses.
import { BasicIndex, type Collection, type WithVirtualProps } from '@tanstack/db';
import { createEventSourcedDB, type EventLogEntry, type SyncResult, type SyncTransport } from '@eventsourced/db';

type User = { id: string; name: string; email: string; createdAt: number };
type Todo = {
  id: string;
  userId: string;
  title: string;
  status: 'pending' | 'complete';
  createdAt: number;
  updatedAt: number;
};
type Counter = { n: number; label: string };

type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;
function expectType<T extends true>(_ok?: T): void {}

export async function readme(): Promise<void> {
  const db = await createEventSourcedDB({
    sync: {
      push: '/api/events',
      pull: '/api/events',
      headers: () => ({ Authorization: `Bearer token` }),
    },
    collections: {
      users: { getKey: (u: User) => u.id },
      todos: { getKey: (t: Todo) => t.id },
      counters: { getKey: (c: Counter) => c.n },
    },
  });

  // db.collections.todos is a Collection of Todo keyed by string.
  const todos: Collection<Todo, string> = db.collections.todos;
  const counters: Collection<Counter, number> = db.collections.counters;
  expectType<Equal<ReturnType<typeof db.collections.todos.get>, WithVirtualProps<Todo, string> | undefined>>();
  expectType<Equal<ReturnType<typeof db.collections.counters.get>, WithVirtualProps<Counter, number> | undefined>>();
  void todos;
  void counters;

  db.collections.todos.insert({
    id: 'todo-1',
    userId: 'user-1',
    title: 'Buy groceries',
    status: 'pending',
    createdAt: Date.now(),
    updatedAt: Date.now(),
  });
  db.collections.todos.update('todo-1', (draft) => {
    draft.status = 'complete';
    draft.updatedAt = Date.now();
  });
  db.collections.todos.delete('todo-1');
  // @ts-expect-error: a field that Todo does not have
  db.collections.todos.insert({ id: 'x', nope: true });
  // @ts-expect-error: counters are keyed by number
  db.collections.counters.delete('one');
  // @ts-expect-error: no such collection
  void db.collections.projects;

  const result: SyncResult = await db.sync();
  const n: number = result.pushed + result.pulled;
  const errs: Error[] = result.errors;
  void n;
  void errs;

  const log: Collection<EventLogEntry, string> = db.eventLog;
  void log;
  const status: 'pending' | 'confirmed' | 'rejected' = ({} as EventLogEntry).syncStatus;
  void status;
  const pending: number = db.status.pendingCount;
  void pending;
  await db.history('todos', 'todo-1');
  // @ts-expect-error: a number key for a string-keyed collection
  await db.history('todos', 1);
  db.dispose();
}

export async function customTransport(ws: { send(kind: string, body: unknown): Promise<any> }): Promise<void> {
  const websocketTransport: SyncTransport = {
    async push(events) {
      const response = await ws.send('events:push', events);
      return response.confirmed;
    },
    async pull(since) {
      const response = await ws.send('events:pull', { since });
      return { events: response.events, cursor: response.cursor, hasMore: response.hasMore };
    },
  };
  await createEventSourcedDB({ sync: websocketTransport, collections: { todos: { getKey: (t: Todo) => t.id } } });
}

export async function collectionOptions(): Promise<void> {
  // TanStack options the binding does not own pass through; inference is unchanged.
  const db = await createEventSourcedDB({
    sync: { push: '/api/events', pull: '/api/events' },
    autoSync: { paused: true },
    collections: {
      todos: {
        getKey: (t: Todo) => t.id,
        autoIndex: 'eager',
        defaultIndexType: BasicIndex,
        gcTime: 60_000,
        compare: (a: Todo, b: Todo) => a.createdAt - b.createdAt,
      },
      counters: { getKey: (c: Counter) => c.n, startSync: false },
    },
  });
  const todos: Collection<Todo, string> = db.collections.todos;
  const counters: Collection<Counter, number> = db.collections.counters;
  void todos;
  void counters;
  const paused: boolean = db.status.paused;
  void paused;
  await createEventSourcedDB({
    // @ts-expect-error: not an auto-index mode
    collections: { todos: { getKey: (t: Todo) => t.id, autoIndex: 'always' } },
  });
  await createEventSourcedDB({
    collections: { todos: { getKey: (t: Todo) => t.id } },
    // @ts-expect-error: `paused` is a boolean
    autoSync: { paused: 'yes' },
  });
}

