import { useState, type FormEvent } from 'react';
import { eq, toArray, useLiveQuery } from '@tanstack/react-db';
import { newId, useDb, write } from '../db';

interface Props {
  selected: string | null;
  onSelect: (projectId: string | null) => void;
}

/** The projects, each with its open/total todo counts (a live sub-query). */
export function ProjectList({ selected, onSelect }: Props) {
  const db = useDb();
  const { data: projects } = useLiveQuery({
    queryKey: ['projects-with-todo-states'],
    query: (q) =>
      q
        .from({ p: db.collections.projects })
        .orderBy(({ p }) => p.createdAt)
        .select(({ p }) => ({
          id: p.id,
          name: p.name,
          done: toArray(
            q
              .from({ t: db.collections.todos })
              .where(({ t }) => eq(t.projectId, p.id))
              .select(({ t }) => t.done),
          ),
        })),
  });

  return (
    <nav className="projects" aria-label="Projects">
      <h2>Projects</h2>
      <ul>
        <li>
          <button type="button" aria-pressed={selected === null} onClick={() => onSelect(null)}>
            All todos
          </button>
        </li>
        {projects.map((p) => (
          <li key={p.id}>
            <button type="button" aria-pressed={selected === p.id} onClick={() => onSelect(p.id)} data-testid="project">
              <span className="name">{p.name}</span>
              <span className="count" title="open / total">
                {p.done.filter((d) => !d).length}/{p.done.length}
              </span>
            </button>
          </li>
        ))}
      </ul>
      <AddProject onAdded={onSelect} />
    </nav>
  );
}

function AddProject({ onAdded }: { onAdded: (id: string) => void }) {
  const db = useDb();
  const [name, setName] = useState('');
  const submit = (e: FormEvent) => {
    e.preventDefault();
    if (name.trim() === '') return;
    const id = newId();
    write(() => db.collections.projects.insert({ id, name: name.trim(), createdAt: Date.now() }));
    setName('');
    onAdded(id);
  };
  return (
    <form className="add-project" onSubmit={submit}>
      <input value={name} onChange={(e) => setName(e.target.value)} placeholder="New project" aria-label="New project name" />
      <button type="submit">Add</button>
    </form>
  );
}
