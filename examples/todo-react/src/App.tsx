import { useState } from 'react';
import { ProjectList } from './components/ProjectList';
import { Rejections } from './components/Rejections';
import { SyncBadge } from './components/SyncBadge';
import { TodoList } from './components/TodoList';
import { SYNC_URL } from './db';

export function App() {
  // null: every project's todos.
  const [projectId, setProjectId] = useState<string | null>(null);
  return (
    <div className="app">
      <header className="topbar">
        <h1>Todos</h1>
        <SyncBadge />
      </header>
      <Rejections />
      <div className="layout">
        <ProjectList selected={projectId} onSelect={setProjectId} />
        <TodoList projectId={projectId} />
      </div>
      <footer className="footnote">
        Stored in this browser (SQLite on OPFS), synced with <code>{SYNC_URL}</code>. The demo server rejects
        todos with an empty title.
      </footer>
    </div>
  );
}
