import { useState, type FormEvent } from 'react';
import { useDb, write } from '../db';

interface Props {
  todo: { id: string; title: string; done: boolean };
  /** Shown when the list mixes projects. */
  projectName: string | undefined;
  /** Some of this row's events are not yet confirmed by the server. */
  pending: boolean;
}

/** One todo: toggle, edit the title in place, delete. */
export function TodoItem({ todo, projectName, pending }: Props) {
  const db = useDb();
  const [draft, setDraft] = useState<string | null>(null);
  const todos = db.collections.todos;

  const save = (e: FormEvent) => {
    e.preventDefault();
    const title = draft?.trim();
    if (title !== undefined && title !== todo.title) {
      write(() =>
        todos.update(todo.id, (d) => {
          d.title = title;
        }),
      );
    }
    setDraft(null);
  };

  return (
    <li className={todo.done ? 'todo done' : 'todo'} data-testid="todo" data-pending={pending}>
      <input
        type="checkbox"
        checked={todo.done}
        onChange={() =>
          write(() =>
            todos.update(todo.id, (d) => {
              d.done = !d.done;
            }),
          )
        }
        aria-label={`Done: ${todo.title}`}
      />
      {draft === null ? (
        <span className="title" onDoubleClick={() => setDraft(todo.title)} data-testid="todo-title">
          {todo.title === '' ? <em>(empty)</em> : todo.title}
        </span>
      ) : (
        <form className="edit" onSubmit={save}>
          <input
            autoFocus
            value={draft}
            onChange={(e) => setDraft(e.target.value)}
            onKeyDown={(e) => e.key === 'Escape' && setDraft(null)}
            aria-label="Edit title"
          />
          <button type="submit">Save</button>
        </form>
      )}
      {projectName !== undefined && <span className="tag">{projectName}</span>}
      {pending && (
        <span className="pending-mark" title="Not yet confirmed by the server">
          pending
        </span>
      )}
      {draft === null && (
        <button type="button" className="ghost" onClick={() => setDraft(todo.title)}>
          Edit
        </button>
      )}
      <button type="button" className="ghost danger" onClick={() => write(() => todos.delete(todo.id))} aria-label={`Delete ${todo.title}`}>
        Delete
      </button>
    </li>
  );
}
