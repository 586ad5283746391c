import { useState, type FormEvent } from 'react';
import { useLiveQuery } from '@tanstack/react-db';
import { newId, useDb, write } from '../db';

/**
 * Adds a todo to the selected project (or to the one picked here when all
 * projects are shown). An empty title is let through on purpose: the demo
 * server refuses it, which shows a rejection and its rollback.
 */
export function AddTodo({ projectId }: { projectId: string | null }) {
  const db = useDb();
  const { data: projects } = useLiveQuery({
    // An explicit key spares hashing the query on every render.
    queryKey: ['projects-by-age'],
    query: (q) => q.from({ p: db.collections.projects }).orderBy(({ p }) => p.createdAt),
  });
  const [title, setTitle] = useState('');
  const [picked, setPicked] = useState('');
  const target = projectId ?? (projects.some((p) => p.id === picked) ? picked : projects[0]?.id);

  const submit = (e: FormEvent) => {
    e.preventDefault();
    if (!target) return;
    write(() =>
      db.collections.todos.insert({ id: newId(), projectId: target, title: title.trim(), done: false, createdAt: Date.now() }),
    );
    setTitle('');
  };

  if (projects.length === 0) return <p className="hint">Add a project to start.</p>;
  return (
    <form className="add-todo" onSubmit={submit}>
      <input value={title} onChange={(e) => setTitle(e.target.value)} placeholder="What needs doing?" aria-label="New todo title" />
      {projectId === null && (
        <select value={target} onChange={(e) => setPicked(e.target.value)} aria-label="Project of the new todo">
          {projects.map((p) => (
            <option key={p.id} value={p.id}>
              {p.name}
            </option>
          ))}
        </select>
      )}
      <button type="submit">Add todo</button>
    </form>
  );
}
