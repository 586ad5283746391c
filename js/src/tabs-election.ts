/**
 * Leader election with Web Locks: every tab of a database queues for the
 * exclusive lock `eventsourced-db:<name>`; the holder is the leader. The
 * browser releases a lock when its page goes away, crashed or not, and then
 * grants it to the next tab in the queue: that is the takeover.
 */

interface LockManagerLike {
  request(name: string, options: { signal?: AbortSignal }, callback: () => Promise<void>): Promise<unknown>;
}

/** Whether this context can elect a leader (Web Locks and BroadcastChannel). */
export function canElect(): boolean {
  const nav = (globalThis as { navigator?: { locks?: LockManagerLike } }).navigator;
  return typeof nav?.locks?.request === 'function' && typeof BroadcastChannel === 'function';
}

export class Election {
  private abort: AbortController | null = null;
  private release: (() => void) | null = null;

  /**
   * @param lead runs while this tab holds the lock; leadership ends when the
   * promise it returns settles (or `leave` is called).
   */
  constructor(
    readonly lockName: string,
    private readonly lead: (resigned: Promise<void>) => Promise<void>,
  ) {}

  /** Queues for the lock (a no-op while queued or leading). */
  join(): void {
    if (this.abort) return;
    const abort = new AbortController();
    this.abort = abort;
    const locks = (globalThis as unknown as { navigator: { locks: LockManagerLike } }).navigator.locks;
    locks
      .request(this.lockName, { signal: abort.signal }, async () => {
        if (abort.signal.aborted) return;
        const resigned = new Promise<void>((resolve) => {
          this.release = resolve;
        });
        try {
          await this.lead(resigned);
        } finally {
          this.release = null;
        }
      })
      .catch(() => undefined) // AbortError: left the queue.
      .finally(() => {
        if (this.abort === abort) this.abort = null;
      });
  }

  /** Leaves the queue, or releases the lock when leading (the next tab takes over). */
  leave(): void {
    this.abort?.abort();
    this.abort = null;
    this.release?.();
    this.release = null;
  }
}
