/**
 * The host side of the protocol: serves requests with the wasm core. Runs
 * inside the dedicated worker (`worker.ts`) or, in in-process mode, in the
 * caller's thread (`worker-local.ts`); it does not know which.
 *
 * Captures are coalesced: every capture request that arrives before the
 * scheduled flush (the same tick, or while the previous commit blocked the
 * thread) goes into one SQLite transaction, since commits dominate the cost.
 * A capture that finds the host idle is flushed at the end of its own task
 * instead of after the messages queued behind it: a lone write does not pay
 * for a task hop.
 * Each request still gets its own result, and a request that fails the
 * shared transaction is retried alone so it cannot fail the others.
 */

import type { EventSourcedCore, HttpSyncConfig, Key, Mutation, SyncTransport, VisibleChange } from './eventsourced_db.js';
import {
  EventSourcedError,
  changesOf,
  joinArrays,
  toWireError,
  type CallbackMethod,
  type FromHost,
  type HostStatus,
  type WireNotification,
  type OpenInfo,
  type Operations,
  type Request,
  type ResponseEnvelope,
  type ToHost,
  type WireError,
  type WireSyncResult,
  type WireTransport,
} from './protocol.js';

/** What the host needs from where it runs. */
export interface HostEnvironment {
  /** Instantiates the wasm once and returns the core class. */
  load(wasmUrl: string | undefined): Promise<typeof EventSourcedCore>;
  /** Sends a message to the client. */
  post(message: FromHost): void;
  /** Runs `task` after the messages already queued for this thread. */
  schedule(task: () => void): void;
}

/** A capture this long after the previous flush finds the host idle (ms). */
const IDLE_MS = 2;

const now = (): number => performance.now();

/**
 * After this long without writes the WAL is checkpointed (ms): a tab that
 * closes without `close` leaves a WAL that the next open must read whole.
 */
const CHECKPOINT_IDLE_MS = 1000;

/** Held changes go out after this long even without an acknowledgement. */
const HOLD_LIMIT_MS = 250;

interface PendingCapture {
  id: number;
  /** The mutations, or a `Mutation[]` as JSON text. */
  mutations: Mutation[] | string;
  /** With text mutations, the rows they touch, `[collection, key]`. */
  rows: Array<[string, Key]> | undefined;
}

export class CoreHost {
  private core: EventSourcedCore | null = null;
  private opening: Promise<OpenInfo> | null = null;
  private info: OpenInfo | null = null;
  private notifyCaptures = false;
  private captures: PendingCapture[] = [];
  private flushScheduled = false;
  /** When captures were last flushed: more within `IDLE_MS` means a burst. */
  private lastFlushAt = -Infinity;
  private syncTail: Promise<unknown> = Promise.resolve();
  private status: HostStatus = { syncing: false, lastSyncAt: null, lastError: null };
  private responses: ResponseEnvelope[] = [];
  /** Captures ran since the last `responses` message (it then carries the pending count). */
  private captured = false;
  private nextCallId = 1;
  private readonly calls = new Map<number, { resolve(v: unknown): void; reject(e: unknown): void }>();
  /** `changes` notifications posted and not yet acknowledged by the client. */
  private unacked = 0;
  /** The client said it acknowledges changes (only then are they held back). */
  private acking = false;
  /** Changes held back while the client still applies earlier ones. */
  private held: Array<Extract<WireNotification, { kind: 'changes' }>> = [];
  private heldTimer: ReturnType<typeof setTimeout> | null = null;
  private checkpointTimer: ReturnType<typeof setTimeout> | null = null;
  private lastWriteAt = -Infinity;

  constructor(private readonly env: HostEnvironment) {}

  /** Handles one message from the client. */
  receive(message: ToHost): void {
    if (message.type === 'ack') {
      this.unacked = Math.max(0, this.unacked - 1);
      if (this.unacked === 0) this.releaseHeld();
      return;
    }
    if (message.type === 'callbackResult') {
      const call = this.calls.get(message.callId);
      this.calls.delete(message.callId);
      if (!call) return;
      if (message.ok) call.resolve(message.value);
      else call.reject(appError(message.error));
      return;
    }
    for (const { id, request } of message.batch) this.dispatch(id, request);
  }

  private dispatch(id: number, request: Request): void {
    if (request.op === 'capture') {
      this.captures.push({ id, mutations: request.mutations, rows: request.rows });
      if (!this.flushScheduled) {
        this.flushScheduled = true;
        if (now() - this.lastFlushAt > IDLE_MS) queueMicrotask(() => this.flush());
        else this.env.schedule(() => this.flush());
      }
      return;
    }
    // Earlier captures first, so a read after a write sees it.
    this.flush();
    this.perform(id, request).then(
      (value) => this.respond({ id, ok: true, value }),
      (error: unknown) => this.respond({ id, ok: false, error: toWireError(error) }),
    );
  }

  private async perform(id: number, request: Request): Promise<unknown> {
    if (this.opening && request.op !== 'open') await this.opening.catch(() => undefined);
    switch (request.op) {
      case 'open':
        return this.open(request);
      case 'close':
        return this.close();
      case 'sync':
        return this.sync(id, request.transport, request.options);
      case 'info':
        return { ...this.openInfo(), cursor: this.need().cursor() };
      case 'visibleRows':
        return this.need().visibleRowsPage(request.collection, request.after, request.limit, request.valuesOnly);
      case 'events':
        return this.need().events(request.query);
      case 'history':
        return this.need().history(request.collection, request.key);
      case 'rejections':
        return this.need().rejections();
      case 'clearRejection':
        return this.need().clearRejection(request.eventId);
      case 'counts':
        return this.need().counts();
      case 'capture':
        throw new EventSourcedError('INTERNAL', 'capture is coalesced, never performed directly');
    }
  }

  private need(): EventSourcedCore {
    if (!this.core) throw new EventSourcedError('CLOSED', 'the database is not open');
    return this.core;
  }

  private openInfo(): OpenInfo {
    if (!this.info) throw new EventSourcedError('CLOSED', 'the database is not open');
    return this.info;
  }

  private async open(args: Operations['open']['args']): Promise<OpenInfo> {
    if (this.core || this.opening) {
      throw new EventSourcedError('STORAGE_UNAVAILABLE', 'this host has a database open already');
    }
    const opening = (async () => {
      const Core = await this.env.load(args.wasmUrl);
      const core = await Core.open(args.name, args.options);
      this.core = core;
      this.notifyCaptures = args.notifyCaptures ?? false;
      this.acking = args.acks ?? false;
      this.info = {
        name: args.name,
        clientId: core.clientId(),
        cursor: core.cursor(),
        lastSyncAt: core.lastSyncAt() ?? null,
        storage: args.options.storage ?? 'opfs',
      };
      return this.info;
    })();
    this.opening = opening;
    try {
      return await opening;
    } finally {
      this.opening = null;
    }
  }

  private async close(): Promise<void> {
    if (this.checkpointTimer !== null) clearTimeout(this.checkpointTimer);
    this.checkpointTimer = null;
    this.flush();
    // The core refuses to close during a sync round: let queued rounds end.
    await this.syncTail;
    this.flush();
    const core = this.core;
    if (!core) return;
    core.close();
    core.free();
    this.core = null;
    this.info = null;
    this.notify({ kind: 'closed' });
  }

  /**
   * Notes a write; the WAL is checkpointed once writes have been quiet for
   * `CHECKPOINT_IDLE_MS`. One timer, which looks at the last write when it
   * fires, rather than one re-armed per write.
   */
  private checkpointWhenIdle(): void {
    this.lastWriteAt = now();
    if (this.checkpointTimer === null) this.armCheckpoint(CHECKPOINT_IDLE_MS);
  }

  private armCheckpoint(ms: number): void {
    this.checkpointTimer = setTimeout(() => {
      this.checkpointTimer = null;
      const quiet = now() - this.lastWriteAt;
      if (quiet < CHECKPOINT_IDLE_MS) return this.armCheckpoint(CHECKPOINT_IDLE_MS - quiet);
      // Still busy: a round or captures in flight write again soon.
      if (this.status.syncing || this.captures.length > 0) return this.checkpointWhenIdle();
      try {
        this.core?.checkpoint();
      } catch {
        // Best effort: the WAL stays and is checkpointed by SQLite later.
      }
    }, ms);
    // In Node (in-process mode) this timer must not keep the process alive.
    (this.checkpointTimer as { unref?: () => void }).unref?.();
  }

  /** Captures everything queued, in one transaction when possible. */
  private flush(): void {
    try {
      this.flushNow();
    } finally {
      // At the end: captures that queued up during a long commit still
      // count as a burst and are taken together.
      this.lastFlushAt = now();
    }
  }

  private flushNow(): void {
    this.flushScheduled = false;
    if (this.captures.length === 0) return;
    if (this.opening) {
      this.flushScheduled = true;
      void this.opening.finally(() => this.flush());
      return;
    }
    const batch = this.captures;
    this.captures = [];
    this.captured = true;
    this.checkpointWhenIdle();
    const core = this.core;
    if (!core) {
      const error = toWireError(new EventSourcedError('CLOSED', 'the database is not open'));
      for (const c of batch) this.respond({ id: c.id, ok: false, error });
      return;
    }
    let all: VisibleChange[] = [];
    if (batch.length === 1) {
      const only = batch[0]!;
      try {
        if (typeof only.mutations === 'string') {
          // Text in, text out: the client parses the changes.
          const changesJson = core.captureJson(only.mutations);
          this.respond({ id: only.id, ok: true, value: changesJson });
          if (this.notifyCaptures) this.notify({ kind: 'changes', cause: 'capture', changesJson });
          return;
        }
        all = core.capture(only.mutations);
        this.respond({ id: only.id, ok: true, value: all });
      } catch (e) {
        this.respond({ id: only.id, ok: false, error: toWireError(e) });
      }
    } else {
      try {
        all = changesOf(core.captureJson(batchText(batch)));
        this.splitResults(batch, all);
      } catch {
        // One bad request must not fail the others: each alone.
        all = [];
        for (const c of batch) {
          try {
            const changes = captureAny(core, c.mutations);
            all.push(...changes);
            this.respond({ id: c.id, ok: true, value: changes });
          } catch (e) {
            this.respond({ id: c.id, ok: false, error: toWireError(e) });
          }
        }
      }
    }
    if (this.notifyCaptures && all.length > 0) {
      this.notify({ kind: 'changes', cause: 'capture', changesJson: JSON.stringify(all) });
    }
  }

  /**
   * Gives each request the changes of the rows it touched, in the core's
   * order. A change's type is relative to the state before the whole batch.
   */
  private splitResults(batch: PendingCapture[], changes: VisibleChange[]): void {
    const byRow = new Map<string, VisibleChange[]>();
    for (const change of changes) {
      const k = rowKey(change.collection, change.key);
      const list = byRow.get(k);
      if (list) list.push(change);
      else byRow.set(k, [change]);
    }
    for (const c of batch) {
      const mine: VisibleChange[] = [];
      const seen = new Set<string>();
      for (const [collection, key] of rowsOf(c)) {
        const k = rowKey(collection, key);
        if (seen.has(k)) continue;
        seen.add(k);
        const list = byRow.get(k);
        if (list) mine.push(...list);
      }
      this.respond({ id: c.id, ok: true, value: mine });
    }
  }

  private sync(
    requestId: number,
    transport: WireTransport,
    options: Operations['sync']['args']['options'],
  ): Promise<WireSyncResult> {
    const core = this.need();
    const run = async (): Promise<WireSyncResult> => {
      this.setStatus({ syncing: true });
      try {
        const result = await core.sync({
          transport: this.transportFor(requestId, transport),
          ...(options && { options }),
          onChanges: (changesJson) => this.notify({ kind: 'changes', cause: 'sync', changesJson }),
          onRejections: (rejections) => this.notify({ kind: 'rejections', rejections }),
        });
        const errors = result.errors.map(toWireError);
        this.setStatus({ syncing: false, lastSyncAt: Date.now(), lastError: errors.at(-1) ?? null });
        return { pushed: result.pushed, pulled: result.pulled, rejected: result.rejected, errors };
      } catch (e) {
        this.setStatus({ syncing: false, lastError: toWireError(e) });
        throw e;
      } finally {
        // Whatever the round wrote, checkpointed once things are quiet.
        this.checkpointWhenIdle();
      }
    };
    // One round at a time per database: queued rounds run in order.
    const round = this.syncTail.then(run, run);
    this.syncTail = round.catch(() => undefined);
    return round;
  }

  /** Turns the posted transport into what the core takes, with call-backs. */
  private transportFor(requestId: number, t: WireTransport): HttpSyncConfig | SyncTransport {
    if (t.kind === 'http') {
      const config: HttpSyncConfig = { push: t.push, pull: t.pull };
      if (t.snapshot !== undefined) config.snapshot = t.snapshot;
      if (t.timeoutMs !== undefined) config.timeoutMs = t.timeoutMs;
      if (t.dynamicHeaders) config.headers = () => this.call(requestId, 'headers', []) as Promise<Record<string, string>>;
      else if (t.headers) config.headers = t.headers;
      return config;
    }
    const custom: SyncTransport = {
      push: (events) => this.call(requestId, 'push', [events]) as ReturnType<SyncTransport['push']>,
      pull: (since, limit) => this.call(requestId, 'pull', [since, limit]) as ReturnType<SyncTransport['pull']>,
    };
    if (t.hasSnapshot) {
      custom.snapshot = () => this.call(requestId, 'snapshot', []) as ReturnType<NonNullable<SyncTransport['snapshot']>>;
    }
    return custom;
  }

  /** Asks the client that sent `requestId` to run one of its functions. */
  private call(requestId: number, method: CallbackMethod, args: unknown[]): Promise<unknown> {
    const callId = this.nextCallId++;
    return new Promise((resolve, reject) => {
      this.calls.set(callId, { resolve, reject });
      this.flushResponses();
      this.post({ type: 'callback', callId, requestId, method, args });
    });
  }

  private setStatus(patch: Partial<HostStatus>): void {
    this.status = { ...this.status, ...patch };
    this.notify({ kind: 'status', status: this.status });
  }

  private notify(notification: WireNotification): void {
    // Responses first: a capture's result must never land after a newer
    // notified state of the same row (the client would write a stale row).
    this.flushResponses();
    if (notification.kind !== 'changes') {
      this.post({ type: 'notify', notification });
      return;
    }
    if (this.acking && this.unacked > 0) {
      // The client is still applying earlier changes: these wait and go
      // with whatever follows, as one notification. A page thread that
      // falls behind a pull then gets fewer, larger commits (each TanStack
      // commit re-sorts the collection's keys) instead of a growing queue.
      this.held.push(notification);
      // Never held for long if an acknowledgement is lost.
      this.heldTimer ??= setTimeout(() => this.releaseHeld(), HOLD_LIMIT_MS);
      return;
    }
    this.unacked++;
    this.env.post({ type: 'notify', notification });
  }

  /** Posts the held changes, each run of one cause merged into one notification. */
  private releaseHeld(): void {
    if (this.heldTimer !== null) {
      clearTimeout(this.heldTimer);
      this.heldTimer = null;
    }
    const held = this.held;
    if (held.length === 0) return;
    this.held = [];
    let i = 0;
    while (i < held.length) {
      const cause = held[i]!.cause;
      const texts: string[] = [];
      for (; i < held.length && held[i]!.cause === cause; i++) texts.push(held[i]!.changesJson);
      this.unacked++;
      this.env.post({ type: 'notify', notification: { kind: 'changes', cause, changesJson: joinArrays(texts) } });
    }
  }

  /** Every message but a `changes` notification: held changes go first, in order. */
  private post(message: FromHost): void {
    this.releaseHeld();
    this.env.post(message);
  }

  /** Responses of one tick go in one message (or sooner, before a notification). */
  private respond(response: ResponseEnvelope): void {
    this.responses.push(response);
    if (this.responses.length === 1) queueMicrotask(() => this.flushResponses());
  }

  private flushResponses(): void {
    if (this.responses.length === 0) return;
    const batch = this.responses;
    this.responses = [];
    const pending = this.captured ? this.pendingCount() : undefined;
    this.captured = false;
    this.post({ type: 'responses', batch, ...(pending !== undefined && { pending }) });
  }

  /** The log's pending count (kept by the core, not counted again after a capture). */
  private pendingCount(): number | undefined {
    try {
      return this.core?.counts().pending;
    } catch {
      // The client reads the counts itself then.
      return undefined;
    }
  }
}

function rowKey(collection: string, key: unknown): string {
  return `${collection}\u0000${String(key)}`;
}

/**
 * An error thrown by an app function on the client, rebuilt with the fields
 * the core classifies by (`status`, `retryAfterMs`, `code`).
 */
function appError(w: WireError): Error {
  const e = new Error(w.message) as Error & { status?: number; retryAfterMs?: number; code?: string };
  e.name = w.name;
  if (w.status !== undefined) e.status = w.status;
  if (w.retryAfterMs !== undefined) e.retryAfterMs = w.retryAfterMs;
  if (w.appCode !== undefined) e.code = w.appCode;
  return e;
}

/** The rows a capture touches, `[collection, key]` (sent with text mutations). */
function rowsOf(c: PendingCapture): Array<[string, Key]> {
  if (c.rows) return c.rows;
  return (c.mutations as Mutation[]).map((m): [string, Key] => [m.collection, m.key]);
}

function captureAny(core: EventSourcedCore, mutations: Mutation[] | string): VisibleChange[] {
  return changesOf(typeof mutations === 'string' ? core.captureJson(mutations) : core.capture(mutations));
}

/** The mutations of coalesced captures as one JSON array: one `stringify` for the objects, texts joined as they are. */
function batchText(batch: PendingCapture[]): string {
  const texts: string[] = [];
  let objects: Mutation[] = [];
  for (const c of batch) {
    if (typeof c.mutations !== 'string') {
      for (const m of c.mutations) objects.push(m);
      continue;
    }
    if (objects.length > 0) texts.push(JSON.stringify(objects));
    objects = [];
    texts.push(c.mutations);
  }
  if (objects.length > 0) texts.push(JSON.stringify(objects));
  return texts.length === 1 ? texts[0]! : joinArrays(texts);
}

