/**
 * Multi-tab mode: an `Endpoint` that gives the client the same protocol
 * whichever tab owns the database.
 *
 * An OPFS database can be open in one worker at a time. The tab holding the
 * Web Lock (`tabs-election.ts`) starts the worker and serves every tab
 * through `LeaderRelay`; the others send their requests over the channel
 * (`tabs-channel.ts`) and receive the leader's change stream. Each tab keeps
 * its unanswered requests and sends them again to the next leader as they
 * were: a capture's mutations carry their event ids, so the core applies one
 * that already ran there once only. On `pagehide` the tab
 * lets go of everything (worker, OPFS handles, lock), so a reload or a
 * back/forward navigation never locks the database out; a page restored
 * from the back/forward cache joins again.
 */

import {
  EventSourcedError,
  toWireError,
  type Endpoint,
  type FromHost,
  type OpenInfo,
  type Operations,
  type RequestEnvelope,
  type ToHost,
  type WireError,
} from './protocol.js';
import { TabsChannel, type TabMessage } from './tabs-channel.js';
import { Election } from './tabs-election.js';
import { LeaderRelay, type RelayOutput } from './tabs-leader.js';

export interface TabsOptions {
  /** The database name: one lock and one channel per name. */
  name: string;
  /** Starts a worker (resolves once it is ready). */
  startHost(): Promise<Endpoint>;
  /**
   * How long a new leader keeps trying to open the database while the
   * previous owner's OPFS handles are still being released (default 10000 ms).
   */
  takeoverTimeoutMs?: number;
}

type OpenArgs = Operations['open']['args'];

export class TabsEndpoint implements Endpoint {
  private listener: ((message: FromHost) => void) | null = null;
  private failure: ((error: WireError) => void) | null = null;
  private readonly channel: TabsChannel;
  private readonly election: Election;
  /** This tab's unanswered requests, oldest first. */
  private readonly inflight = new Map<number, RequestEnvelope>();
  private openArgs: OpenArgs | null = null;
  private openId: number | null = null;
  /** The leader's tab id (this tab's when leading), `null` while unknown. */
  private leader: string | null = null;
  private info: OpenInfo | null = null;
  private relay: LeaderRelay | null = null;
  private host: Endpoint | null = null;
  private started = false;
  private stopped = false;
  private hidden = false;
  private readonly output: RelayOutput = {
    toTab: (origin, message) => {
      if (origin === null) this.deliver(message);
      else this.channel.send({ t: 'host', from: this.channel.id, to: origin, message });
    },
    toOthers: (notification, skip) =>
      this.channel.send({
        t: 'host',
        from: this.channel.id,
        ...(skip !== null && { skip }),
        message: { type: 'notify', notification },
      }),
    othersListen: () => this.channel.heardOthers,
  };

  constructor(private readonly options: TabsOptions) {
    const name = `eventsourced-db:${options.name}`;
    this.channel = new TabsChannel(name, (m) => this.fromTab(m));
    this.election = new Election(name, (resigned) => this.lead(resigned));
  }

  // --- Endpoint -----------------------------------------------------------

  post(message: ToHost): void {
    if (message.type === 'ack') {
      // Only the leader tab's own client paces the host; the others get
      // the changes relayed.
      if (this.leader === this.channel.id) this.relay?.submit(null, message);
      return;
    }
    if (message.type === 'callbackResult') {
      this.toLeader(message);
      return;
    }
    const fresh: RequestEnvelope[] = [];
    for (const envelope of message.batch) {
      const request = envelope.request;
      if (request.op === 'open') {
        const { op: _op, ...args } = request;
        this.openArgs = args;
        this.openId = envelope.id;
        this.start();
      } else if (request.op === 'close') {
        void this.close(envelope.id);
      } else {
        this.inflight.set(envelope.id, envelope);
        fresh.push(envelope);
      }
    }
    this.send(fresh);
  }

  listen(listener: (message: FromHost) => void): void {
    this.listener = listener;
  }

  onFailure(listener: (error: WireError) => void): void {
    this.failure = listener;
  }

  terminate(): void {
    this.stop();
  }

  // --- this tab's requests ------------------------------------------------

  /** Sends requests to the leader, the same envelopes every time (a retry is the same request). */
  private send(batch: RequestEnvelope[]): void {
    if (this.leader === null || batch.length === 0) return;
    this.toLeader({ type: 'requests', batch });
  }

  private toLeader(message: ToHost): void {
    if (this.leader === null) return;
    if (this.leader === this.channel.id) this.relay?.submit(null, message);
    else this.channel.send({ t: 'client', from: this.channel.id, to: this.leader, message });
  }

  /** Gives the client a message; only responses it still waits for. */
  private deliver(message: FromHost): void {
    if (message.type === 'responses') {
      const batch = message.batch.filter((r) => this.inflight.delete(r.id));
      if (batch.length > 0) this.listener?.({ ...message, batch });
      return;
    }
    this.listener?.(message);
  }

  private fromTab(m: TabMessage): void {
    if (this.stopped || this.hidden) return;
    switch (m.t) {
      case 'hello':
        if (this.relay) this.announce();
        return;
      case 'leader':
        if (m.from !== this.leader) this.follow(m.from, m.info);
        return;
      case 'bye':
        if (m.from === this.leader) this.leader = null;
        else this.relay?.tabGone(m.from);
        return;
      case 'client':
        if (this.relay) this.relay.submit(m.from, m.message);
        return;
      case 'host':
        if (m.from === this.leader) this.deliver(m.message);
        return;
    }
  }

  /** A new leader: tell the client, answer its `open`, send it every unanswered request. */
  private follow(leader: string, info: OpenInfo): void {
    // A new leader that never heard of this tab would not broadcast to it.
    if (leader !== this.channel.id) this.channel.send({ t: 'hello', from: this.channel.id });
    this.leader = leader;
    this.info = info;
    this.listener?.({ type: 'notify', notification: { kind: 'leader', isLeader: leader === this.channel.id } });
    if (this.openId !== null) {
      const id = this.openId;
      this.openId = null;
      this.listener?.({ type: 'responses', batch: [{ id, ok: true, value: info }] });
    }
    this.send([...this.inflight.values()]);
  }

  // --- leading ------------------------------------------------------------

  /** Runs while this tab holds the lock. */
  private async lead(resigned: Promise<void>): Promise<void> {
    if (this.stopped || this.hidden || !this.openArgs) return;
    let opened: { host: Endpoint; relay: LeaderRelay; info: OpenInfo };
    try {
      opened = await this.openAsLeader(this.openArgs);
    } catch (e) {
      this.cannotLead(e);
      return;
    }
    if (this.stopped || this.hidden) {
      opened.host.terminate();
      return;
    }
    this.host = opened.host;
    this.relay = opened.relay;
    this.announce(opened.info);
    this.follow(this.channel.id, opened.info);
    await resigned;
  }

  /**
   * Starts a worker and opens the database, again for a while when it is
   * still held: the previous leader's page may be letting go of it.
   */
  private async openAsLeader(args: OpenArgs): Promise<{ host: Endpoint; relay: LeaderRelay; info: OpenInfo }> {
    const deadline = Date.now() + (this.options.takeoverTimeoutMs ?? 10_000);
    for (let attempt = 0; ; attempt++) {
      const host = await this.options.startHost();
      const relay = new LeaderRelay(host, this.output);
      host.onFailure((error) => this.hostFailed(relay, error));
      try {
        return { host, relay, info: await relay.open(args) };
      } catch (e) {
        host.terminate();
        const retry = isHeldElsewhere(e) && Date.now() < deadline && !this.stopped && !this.hidden;
        if (!retry) throw e;
        await new Promise((r) => setTimeout(r, Math.min(25 * 2 ** attempt, 400)));
      }
    }
  }

  private announce(info = this.info): void {
    if (info) this.channel.send({ t: 'leader', from: this.channel.id, info });
  }

  /** This tab could not open the database: fail its `open`, or its client, and let another tab try. */
  private cannotLead(e: unknown): void {
    const error = toWireError(e);
    if (this.openId !== null) {
      const id = this.openId;
      this.openId = null;
      this.listener?.({ type: 'responses', batch: [{ id, ok: false, error }] });
      this.stop();
    } else {
      this.failure?.(error);
      this.stop();
    }
  }

  /** The worker died: this tab's client fails (as with one tab), another tab takes over. */
  private hostFailed(relay: LeaderRelay, error: WireError): void {
    relay.failInternal(error);
    if (this.relay !== relay) return;
    this.failure?.(error);
    this.stop();
  }

  /** Leaves: a leader stops at once (the worker is terminated; its OPFS handles go with it). */
  private resign(): void {
    // The leader's followers wait for the next one; a follower's syncs stop waiting for it.
    this.channel.send({ t: 'bye', from: this.channel.id });
    if (this.relay) {
      this.relay.stopServingOthers();
      this.host?.terminate();
      this.relay = null;
      this.host = null;
    }
    if (this.leader === this.channel.id) this.leader = null;
    this.election.leave();
  }

  // --- lifecycle ----------------------------------------------------------

  private start(): void {
    if (this.started) return;
    this.started = true;
    const w = globalThis as { addEventListener?: typeof addEventListener };
    w.addEventListener?.('pagehide', this.onPageHide);
    w.addEventListener?.('pageshow', this.onPageShow);
    this.join();
  }

  private join(): void {
    this.channel.open();
    this.channel.send({ t: 'hello', from: this.channel.id });
    this.election.join();
  }

  private readonly onPageHide = (): void => {
    if (this.stopped || this.hidden) return;
    this.hidden = true;
    this.resign();
    this.channel.close();
    this.leader = null;
  };

  private readonly onPageShow = (e: PageTransitionEvent): void => {
    if (!e.persisted || this.stopped || !this.hidden) return;
    this.hidden = false;
    this.join();
  };

  /** `close` of the client: the leader closes the database first (its syncs end, its writes are all in). */
  private async close(id: number): Promise<void> {
    const relay = this.relay;
    this.stopped = true;
    let response: FromHost = { type: 'responses', batch: [{ id, ok: true, value: undefined }] };
    try {
      if (relay) await relay.close();
    } catch (e) {
      response = { type: 'responses', batch: [{ id, ok: false, error: toWireError(e) }] };
    }
    this.stop();
    this.listener?.(response);
  }

  private stop(): void {
    this.stopped = true;
    this.resign();
    this.channel.close();
    const w = globalThis as { removeEventListener?: typeof removeEventListener };
    w.removeEventListener?.('pagehide', this.onPageHide);
    w.removeEventListener?.('pageshow', this.onPageShow);
  }
}

/** The open failed because another worker still holds the database's OPFS files. */
function isHeldElsewhere(e: unknown): boolean {
  if (!(e instanceof EventSourcedError)) return false;
  if (e.code !== 'STORAGE_UNAVAILABLE' && e.code !== 'STORAGE') return false;
  // Where OPFS itself is missing, waiting cannot help.
  const storage = (globalThis as { navigator?: { storage?: { getDirectory?: unknown } } }).navigator?.storage;
  return typeof storage?.getDirectory === 'function';
}
