/**
 * The leader tab's relay: puts this tab's requests and the other tabs'
 * requests to the one worker that owns the database, and routes what the
 * worker says back to the tab that asked. It also turns every capture's
 * result into a `changes` notification for the other tabs, so their
 * collections show every tab's writes.
 *
 * Retried captures: a capture that went to a leader that then vanished may
 * or may not have committed there. Before running it again the relay looks
 * for its event in the log (see `alreadyCaptured`); the relay runs requests
 * in arrival order, so such a check holds back the requests behind it.
 */

import type { LoggedEvent, Mutation, VisibleChange, VisibleRow } from './eventsourced_db.js';
import {
  EventSourcedError,
  type Endpoint,
  type FromHost,
  type Notification,
  type OpenInfo,
  type Operations,
  type Request,
  type RequestEnvelope,
  type ResponseEnvelope,
  type ToHost,
  type WireError,
} from './protocol.js';

/** A tab id, or `null` for this tab. */
export type Origin = string | null;

/** Where the relay's output goes. */
export interface RelayOutput {
  /** A message for a tab's client, its own request ids restored. */
  toTab(origin: Origin, message: FromHost): void;
  /** A notification for every other tab except `skip` (not this one). */
  toOthers(notification: Notification, skip: Origin): void;
}

/** How long a sync round waits for another tab's headers or transport function. */
const CALLBACK_TIMEOUT_MS = 60_000;

type Route =
  | { kind: 'tab'; origin: Origin; id: number; op: Request['op'] }
  | { kind: 'internal'; resolve(value: unknown): void; reject(error: unknown): void };

export class LeaderRelay {
  private nextId = 1;
  private readonly routes = new Map<number, Route>();
  /** Callbacks waiting for another tab's answer (a sync it asked for): callId → tab. */
  private readonly callbacks = new Map<number, { origin: string; timer: ReturnType<typeof setTimeout> }>();
  /** Requests waiting behind a retried capture's check, in order. */
  private tail: Promise<void> | null = null;
  private closing = false;

  constructor(
    private readonly host: Endpoint,
    private readonly out: RelayOutput,
  ) {
    host.listen((message) => this.fromHost(message));
  }

  /** Opens the database in the worker. */
  open(args: Operations['open']['args']): Promise<OpenInfo> {
    return this.call({ op: 'open', ...args }) as Promise<OpenInfo>;
  }

  /** Closes the database (after its running syncs); other tabs' requests wait for the next leader. */
  async close(): Promise<void> {
    this.closing = true;
    await this.call({ op: 'close' });
  }

  /** Stops serving other tabs: they retry at the next leader. */
  stopServingOthers(): void {
    this.closing = true;
  }

  /** A message from a tab's client (`origin` null: this tab). */
  submit(origin: Origin, message: ToHost): void {
    if (origin !== null && this.closing) return;
    if (message.type === 'callbackResult') {
      const waiting = this.callbacks.get(message.callId);
      if (waiting) {
        clearTimeout(waiting.timer);
        this.callbacks.delete(message.callId);
      }
      this.host.post(message);
      return;
    }
    let direct: RequestEnvelope[] = [];
    for (const envelope of message.batch) {
      const retried = envelope.retrySince !== undefined && envelope.request.op === 'capture';
      if (!retried && this.tail === null) {
        direct.push(this.route(origin, envelope));
        continue;
      }
      // Order matters (two captures of one row): post what came before first.
      if (direct.length > 0) this.host.post({ type: 'requests', batch: direct });
      direct = [];
      this.enqueue(() => (retried ? this.retryCapture(origin, envelope) : this.forward(origin, envelope)));
    }
    if (direct.length > 0) this.host.post({ type: 'requests', batch: direct });
  }

  private route(origin: Origin, envelope: RequestEnvelope): RequestEnvelope {
    const id = this.nextId++;
    this.routes.set(id, { kind: 'tab', origin, id: envelope.id, op: envelope.request.op });
    return { id, request: envelope.request };
  }

  private forward(origin: Origin, envelope: RequestEnvelope): void {
    this.host.post({ type: 'requests', batch: [this.route(origin, envelope)] });
  }

  private enqueue(task: () => Promise<void> | void): void {
    const run = (this.tail ?? Promise.resolve()).then(task).catch((e: unknown) => {
      console.error('eventsourced-db: a relayed request failed', e);
    });
    this.tail = run;
    void run.then(() => {
      if (this.tail === run) this.tail = null;
    });
  }

  /** Runs a retried capture unless its first attempt committed; then answers with the rows as they are. */
  private async retryCapture(origin: Origin, envelope: RequestEnvelope): Promise<void> {
    const request = envelope.request as Extract<Request, { op: 'capture' }>;
    let changes: VisibleChange[] | null = null;
    try {
      if (await this.alreadyCaptured(request.mutations, envelope.retrySince!)) {
        changes = await this.currentRows(request.mutations);
      }
    } catch {
      // The check failed (the database closed): run it normally, it will answer.
    }
    if (changes === null) {
      this.forward(origin, envelope);
      return;
    }
    this.out.toTab(origin, { type: 'responses', batch: [{ id: envelope.id, ok: true, value: changes }] });
  }

  /**
   * Whether the log holds the capture's first event (a capture is one
   * transaction: all its events or none). The core mints event ids inside
   * capture, so the event is recognised by its content and by a timestamp
   * no older than the first attempt.
   */
  private async alreadyCaptured(mutations: Mutation[], since: number): Promise<boolean> {
    const m = mutations[0];
    if (!m) return false;
    const history = (await this.call({ op: 'history', collection: m.collection, key: m.key })) as LoggedEvent[];
    // Through JSON, as the core stored them (fields set to undefined vanish).
    const payload = asJson(m.type === 'delete' ? (m.original ?? {}) : (m.modified ?? {}));
    const changes = m.type === 'update' ? asJson(m.changes ?? null) : null;
    return history.some(
      (e) =>
        e.origin === 'local' &&
        e.timestamp >= since - 1 &&
        e.type === m.type &&
        sameJson(e.payload, payload) &&
        sameJson(e.changes ?? null, changes),
    );
  }

  /** The visible state of the rows `mutations` touched, as changes. */
  private async currentRows(mutations: Mutation[]): Promise<VisibleChange[]> {
    const changes: VisibleChange[] = [];
    const byCollection = new Map<string, Mutation[]>();
    for (const m of mutations) byCollection.set(m.collection, [...(byCollection.get(m.collection) ?? []), m]);
    for (const [collection, list] of byCollection) {
      const rows = (await this.call({ op: 'visibleRows', collection })) as VisibleRow[];
      const byKey = new Map(rows.map((r) => [String(r.key), r]));
      const seen = new Set<string>();
      for (const m of list) {
        const k = String(m.key);
        if (seen.has(k)) continue;
        seen.add(k);
        const row = byKey.get(k);
        changes.push(
          row
            ? { collection, key: row.key, type: 'update', value: row.value }
            : { collection, key: m.key, type: 'delete', value: m.original ?? m.modified ?? {} },
        );
      }
    }
    return changes;
  }

  /** A request of the relay itself. */
  private call(request: Request): Promise<unknown> {
    return new Promise((resolve, reject) => {
      const id = this.nextId++;
      this.routes.set(id, { kind: 'internal', resolve, reject });
      this.host.post({ type: 'requests', batch: [{ id, request }] });
    });
  }

  private fromHost(message: FromHost): void {
    switch (message.type) {
      case 'responses':
        this.responses(message.batch);
        return;
      case 'notify':
        this.out.toTab(null, message);
        // `closed` concerns this tab only: the others wait for the next leader.
        if (message.notification.kind !== 'closed') this.out.toOthers(message.notification, null);
        return;
      case 'callback': {
        const route = this.routes.get(message.requestId);
        if (!route || route.kind === 'internal') return;
        if (route.origin !== null) this.awaitCallback(route.origin, message.callId);
        this.out.toTab(route.origin, { ...message, requestId: route.id });
        return;
      }
      case 'ready':
        return;
    }
  }

  /** Sends each tab its responses, then the other tabs the changes of its captures. */
  private responses(batch: ResponseEnvelope[]): void {
    const byOrigin = new Map<Origin, ResponseEnvelope[]>();
    const captured = new Map<Origin, VisibleChange[]>();
    for (const r of batch) {
      const route = this.routes.get(r.id);
      this.routes.delete(r.id);
      if (!route) continue;
      if (route.kind === 'internal') {
        if (r.ok) route.resolve(r.value);
        else route.reject(EventSourcedError.fromWire(r.error));
        continue;
      }
      // A follower's request the closing database refused: it retries at the next leader.
      if (!r.ok && route.origin !== null && this.closing && r.error.code === 'CLOSED') continue;
      const mine = byOrigin.get(route.origin) ?? [];
      mine.push(r.ok ? { id: route.id, ok: true, value: r.value } : { id: route.id, ok: false, error: r.error });
      byOrigin.set(route.origin, mine);
      if (r.ok && route.op === 'capture') {
        const list = captured.get(route.origin) ?? [];
        list.push(...(r.value as VisibleChange[]));
        captured.set(route.origin, list);
      }
    }
    for (const [origin, list] of byOrigin) this.out.toTab(origin, { type: 'responses', batch: list });
    for (const [origin, changes] of captured) {
      if (changes.length === 0) continue;
      const notification: Notification = { kind: 'changes', cause: 'capture', changes };
      if (origin !== null) this.out.toTab(null, { type: 'notify', notification });
      this.out.toOthers(notification, origin);
    }
  }

  /** Another tab left: the syncs it asked for must not wait for its answers. */
  tabGone(tab: string): void {
    for (const [callId, waiting] of this.callbacks) {
      if (waiting.origin === tab) this.failCallback(callId, 'the tab that started this sync has gone');
    }
  }

  /**
   * A sync round waits for the tab that asked for it to run its functions
   * (headers, a custom transport); a tab that crashed would hold up every
   * later round, so its answer has a time limit.
   */
  private awaitCallback(origin: string, callId: number): void {
    const timer = setTimeout(() => this.failCallback(callId, 'the tab that started this sync did not answer'), CALLBACK_TIMEOUT_MS);
    this.callbacks.set(callId, { origin, timer });
  }

  private failCallback(callId: number, message: string): void {
    const waiting = this.callbacks.get(callId);
    if (!waiting) return;
    clearTimeout(waiting.timer);
    this.callbacks.delete(callId);
    // Transient: the round ends with a retryable error; nothing is lost.
    const error: WireError = { name: 'EventSourcedError', code: 'NETWORK', message, transient: true };
    this.host.post({ type: 'callbackResult', callId, ok: false, error });
  }

  /** Fails the relay's own pending calls (the worker is gone). */
  failInternal(error: WireError): void {
    for (const [id, route] of this.routes) {
      if (route.kind === 'internal') {
        this.routes.delete(id);
        route.reject(EventSourcedError.fromWire(error));
      }
    }
  }
}

function asJson(value: unknown): unknown {
  return JSON.parse(JSON.stringify(value)) as unknown;
}

/** Deep equality of JSON values, whatever their key order. */
function sameJson(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  const ka = Object.keys(a);
  const kb = Object.keys(b);
  if (ka.length !== kb.length) return false;
  return ka.every((k) => sameJson((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k]));
}
