import type { Rejection } from '@eventsourced/db';
import { useRejections } from '@eventsourced/db/react';
import { useDb } from '../db';

/** Writes the server refused; the core has already rolled each one back. */
export function Rejections() {
  const db = useDb();
  const rejections = useRejections(db);
  if (rejections.length === 0) return null;
  return (
    <section className="rejections" aria-label="Rejected writes">
      <h2>Rejected by the server (rolled back)</h2>
      <ul>
        {rejections.map((r) => (
          <li key={r.eventId} data-testid="rejection">
            <span className="what">{describe(r)}</span>
            <span className="reason" data-testid="rejection-reason">
              {r.reason}
            </span>
            <code>{r.code}</code>
            <button type="button" onClick={() => void db.clearRejection(r.eventId)}>
              Dismiss
            </button>
          </li>
        ))}
      </ul>
    </section>
  );
}

const ACTIONS: Record<string, string> = { insert: 'New', update: 'Change to', delete: 'Deletion of' };

/** "New todo (empty title)", "Change to project “Home”". */
function describe(r: Rejection): string {
  const label = r.payload['title'] ?? r.payload['name'];
  const shown = typeof label === 'string' ? (label.trim() === '' ? '(empty title)' : `“${label}”`) : String(r.key);
  const noun = r.collectionId.replace(/s$/, '');
  return `${ACTIONS[r.type] ?? r.type} ${noun} ${shown}`;
}
