/**
 * The leader tab's relay: puts this tab's requests and the other tabs'
 * requests to the one worker that owns the database, and routes what the
 * worker says back to the tab that asked. It also turns every capture's
 * result into a `changes` notification for the other tabs, so their
 * collections show every tab's writes.
 *
 * Retried captures: a capture that went to a leader that then vanished may
 * or may not have committed there. Its tab simply sends it again: the
 * mutations carry event ids minted by the client, and the core applies an
 * id it already has once only, answering with the row as it stands.
 */

import type { VisibleChange } from './eventsourced_db.js';
import {
  EventSourcedError,
  joinArrays,
  type Endpoint,
  type FromHost,
  type WireNotification,
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
  toOthers(notification: WireNotification, skip: Origin): void;
  /**
   * Whether another tab may be listening. Until one has been heard from,
   * nothing is broadcast (nor are capture results encoded for it): a tab
   * that joins later says so first, then reads the rows and the status from
   * the leader, after everything this tab did not broadcast.
   */
  othersListen(): boolean;
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
    if (message.type === 'ack') {
      if (origin === null) this.host.post(message);
      return;
    }
    if (message.type === 'callbackResult') {
      const waiting = this.callbacks.get(message.callId);
      if (waiting) {
        clearTimeout(waiting.timer);
        this.callbacks.delete(message.callId);
      }
      this.host.post(message);
      return;
    }
    if (message.batch.length === 0) return;
    this.host.post({ type: 'requests', batch: message.batch.map((envelope) => this.route(origin, envelope)) });
  }

  private route(origin: Origin, envelope: RequestEnvelope): RequestEnvelope {
    const id = this.nextId++;
    this.routes.set(id, { kind: 'tab', origin, id: envelope.id, op: envelope.request.op });
    return { id, request: envelope.request };
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
        this.responses(message.batch, message.pending);
        return;
      case 'notify':
        this.out.toTab(null, message);
        // `closed` concerns this tab only: the others wait for the next leader.
        if (message.notification.kind !== 'closed' && this.out.othersListen()) {
          this.out.toOthers(message.notification, null);
        }
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
  private responses(batch: ResponseEnvelope[], pending: number | undefined): void {
    const byOrigin = new Map<Origin, ResponseEnvelope[]>();
    // Each origin's capture results as JSON array texts, joined unparsed.
    const captured = new Map<Origin, string[]>();
    const othersListen = this.out.othersListen();
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
      if (r.ok && route.op === 'capture' && (route.origin !== null || othersListen)) {
        const texts = captured.get(route.origin) ?? [];
        const value = r.value as VisibleChange[] | string;
        texts.push(typeof value === 'string' ? value : JSON.stringify(value));
        captured.set(route.origin, texts);
      }
    }
    // The database's count after these captures, whichever tab asked.
    const counted = pending === undefined ? {} : { pending };
    for (const [origin, list] of byOrigin) this.out.toTab(origin, { type: 'responses', batch: list, ...counted });
    for (const [origin, texts] of captured) {
      const changesJson = joinArrays(texts);
      if (changesJson === '[]') continue;
      const notification: WireNotification = { kind: 'changes', cause: 'capture', changesJson };
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
