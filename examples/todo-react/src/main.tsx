import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { App } from './App';
import { DbContext, openDb } from './db';
import './styles.css';

const root = createRoot(document.getElementById('root')!);
root.render(<p className="splash">Opening the local database…</p>);

openDb().then(
  (db) => {
    root.render(
      <StrictMode>
        <DbContext value={db}>
          <App />
        </DbContext>
      </StrictMode>,
    );
  },
  (error: unknown) => {
    console.error(error);
    root.render(
      <p className="splash error" role="alert">
        Could not open the database: {error instanceof Error ? `${error.name}: ${error.message}` : String(error)}
      </p>,
    );
  },
);
