import { useMemo } from 'react';
import { and, eq, useLiveQuery } from '@tanstack/react-db';
import { useDb } from '../db';
import { AddTodo } from './AddTodo';
import { TodoItem } from './TodoItem';

/** The todos of one project (or all), each joined with its project's name. */
export function TodoList({ projectId }: { projectId: string | null }) {
  const db = useDb();
  const { data: todos } = useLiveQuery({
    // An explicit key (with what the query depends on) spares hashing it on every render.
    queryKey: ['todos-with-project', projectId],
    query: (q) => {
      const joined = q
        .from({ t: db.collections.todos })
        .leftJoin({ p: db.collections.projects }, ({ t, p }) => eq(t.projectId, p.id));
      const filtered = projectId === null ? joined : joined.where(({ t }) => eq(t.projectId, projectId));
      return filtered
        .orderBy(({ t }) => t.createdAt)
        .select(({ t, p }) => ({
          id: t.id,
          title: t.title,
          done: t.done,
          projectName: p?.name,
        }));
    },
  });

  // A row is "pending" while one of its events waits for the server.
  const { data: pendingEvents } = useLiveQuery({
    queryKey: ['pending-todo-events'],
    query: (q) =>
      q
        .from({ e: db.eventLog })
        .where(({ e }) => and(eq(e.collectionId, 'todos'), eq(e.syncStatus, 'pending')))
        .select(({ e }) => ({ eventId: e.eventId, key: e.key })),
  });
  const pendingKeys = useMemo(() => new Set(pendingEvents.map((e) => String(e.key))), [pendingEvents]);

  return (
    <main className="todos">
      <AddTodo projectId={projectId} />
      {todos.length === 0 ? (
        <p className="empty">No todos here yet.</p>
      ) : (
        <ul>
          {todos.map((t) => (
            <TodoItem
              key={t.id}
              todo={t}
              projectName={projectId === null ? t.projectName : undefined}
              pending={pendingKeys.has(t.id)}
            />
          ))}
        </ul>
      )}
    </main>
  );
}
