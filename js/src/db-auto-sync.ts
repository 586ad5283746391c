/**
 * When to run sync rounds on its own: soon after local writes (debounced),
 * when the browser comes back online, on an interval, and when the live tail
 * reports an event. One round at a time; while offline or paused nothing
 * runs; after a failed round the next waits `min(base·2^n, max)` with jitter.
 */

/** Auto-sync settings of `createEventSourcedDB`. */
export interface AutoSyncOptions {
  /** Run sync rounds automatically (default true when `sync` is configured). */
  enabled?: boolean;
  /**
   * Open with automatic sync paused, as if `db.pauseSync()` had been called
   * before anything ran (an app's remembered "work offline" switch): no
   * round, no live tail until `db.resumeSync()`. `db.sync()` still works.
   * Default false.
   */
  paused?: boolean;
  /** Delay after a local write before pushing, coalescing bursts (default 100 ms). */
  debounceMs?: number;
  /** Periodic round, in ms; 0 turns it off (default 30000). */
  intervalMs?: number;
  /** Sync when the browser reports it is online again (default true). */
  onOnline?: boolean;
  /** Follow the server's live tail (SSE), where the server has one (default true). */
  liveTail?: boolean;
  /** First retry delay after a failed round (default 1000 ms). */
  backoffBaseMs?: number;
  /** Longest retry delay (default 60000 ms). */
  backoffMaxMs?: number;
}

export interface Scheduled {
  /** Runs one round; resolves `true` when it had errors (back off). */
  run(): Promise<boolean>;
  /** Whether rounds may run now (online and not paused). */
  active(): boolean;
}

export class AutoSync {
  private timer: ReturnType<typeof setTimeout> | null = null;
  private dueAt = 0;
  private interval: ReturnType<typeof setInterval> | null = null;
  private running = false;
  private again = false;
  private failures = 0;
  private backoffUntil = 0;
  private stopped = false;
  readonly debounceMs: number;

  constructor(
    private readonly target: Scheduled,
    private readonly options: AutoSyncOptions,
  ) {
    this.debounceMs = options.debounceMs ?? 100;
  }

  start(): void {
    const every = this.options.intervalMs ?? 30_000;
    if (every > 0) this.interval = setInterval(() => this.schedule(0), every);
    this.schedule(0);
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    if (this.interval) clearInterval(this.interval);
    this.timer = null;
    this.interval = null;
  }

  /** Forgets the backoff (the network came back, the app resumed). */
  resetBackoff(): void {
    this.failures = 0;
    this.backoffUntil = 0;
  }

  /** Asks for a round in `delayMs` (or sooner if one is due sooner). */
  schedule(delayMs: number = this.debounceMs): void {
    if (this.stopped) return;
    if (!this.target.active()) return;
    if (this.running) {
      this.again = true;
      return;
    }
    const due = Math.max(Date.now() + delayMs, this.backoffUntil);
    if (this.timer && this.dueAt <= due) return;
    if (this.timer) clearTimeout(this.timer);
    this.dueAt = due;
    this.timer = setTimeout(() => this.fire(), Math.max(0, due - Date.now()));
  }

  /** Drops a scheduled round (going offline, pausing). */
  cancel(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }

  private async fire(): Promise<void> {
    this.timer = null;
    if (this.stopped || !this.target.active()) return;
    this.running = true;
    let failed = true;
    try {
      failed = await this.target.run();
    } catch {
      failed = true;
    } finally {
      this.running = false;
    }
    if (failed) {
      const base = this.options.backoffBaseMs ?? 1000;
      const max = this.options.backoffMaxMs ?? 60_000;
      const delay = Math.min(max, base * 2 ** this.failures) * (0.5 + Math.random() / 2);
      this.failures++;
      this.backoffUntil = Date.now() + delay;
      this.again = false;
      this.schedule(0);
    } else {
      this.resetBackoff();
      if (this.again) {
        this.again = false;
        this.schedule(0);
      }
    }
  }
}
