// The rows every contender writes and reads: the same shape, keys and sizes.
export type Row = { id: string; title: string; done: boolean; createdAt: number };

export const row = (prefix: string, i: number): Row => ({
  id: `${prefix}${i}`,
  title: `row ${i}`,
  done: false,
  createdAt: 1_714_490_000_000 + i,
});

export const rows = (prefix: string, from: number, to: number): Row[] => {
  const out: Row[] = [];
  for (let i = from; i < to; i++) out.push(row(prefix, i));
  return out;
};

/**
 * Rows per insert call while filling a database for the cold starts (untimed).
 * Under 6,553: the binding's uuidv7s() asks getRandomValues for 10 bytes per
 * event, over its 65,536-byte limit at 10k rows (reported; js/src/uuid.ts).
 */
export const FILL_BATCH = 5_000;

export const now = () => performance.now();
/** Wall-clock time in ms with sub-ms resolution, comparable across browser processes (case 5). */
export const abs = () => performance.timeOrigin + performance.now();

/** Waits for a key to show up (case 5): arrival times by row id, and who waits for which. */
export class Arrivals {
  private seen = new Map<string, number>();
  private waiters = new Map<string, (t: number) => void>();
  note(id: string, t = abs()) {
    if (this.seen.has(id)) return;
    this.seen.set(id, t);
    this.waiters.get(id)?.(t);
  }
  wait(id: string, timeoutMs = 15_000): Promise<number> {
    const t = this.seen.get(id);
    if (t !== undefined) return Promise.resolve(t);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${id} did not arrive in ${timeoutMs} ms`)), timeoutMs);
      this.waiters.set(id, (at) => {
        clearTimeout(timer);
        resolve(at);
      });
    });
  }
}

export function ready(api: object) {
  (window as unknown as { bench: object }).bench = api;
  document.body.dataset.ready = 'true';
}
