/**
 * The wire between the tabs of one database: a BroadcastChannel named after
 * it. It carries the ordinary protocol messages (`ToHost` from a follower to
 * the leader, `FromHost` back), addressed by tab id, plus three election
 * messages. BroadcastChannel keeps the order of one sender's messages, so a
 * follower sees the leader's responses and notifications in host order.
 */

import type { FromHost, OpenInfo, ToHost } from './protocol.js';

export type TabMessage =
  /** A tab that starts (or resumes) asks who leads. */
  | { t: 'hello'; from: string }
  /** The leader: it owns the database and serves requests. */
  | { t: 'leader'; from: string; info: OpenInfo }
  /** The leader stops leading (closed, or the page is hidden). */
  | { t: 'bye'; from: string }
  /** A follower's requests or callback results, to the leader. */
  | { t: 'client'; from: string; to: string; message: ToHost }
  /**
   * The leader's responses and callbacks to one tab (`to`), or
   * notifications to all (`to` absent) except `skip`.
   */
  | { t: 'host'; from: string; to?: string; skip?: string; message: FromHost };

/** One tab's end of the channel: sends, and receives what is addressed to it. */
export class TabsChannel {
  /** This tab's id (fresh per page load). */
  readonly id: string = newTabId();
  private channel: BroadcastChannel | null = null;
  private heard = false;

  constructor(
    private readonly name: string,
    private readonly receive: (message: TabMessage) => void,
  ) {}

  open(): void {
    if (this.channel) return;
    const channel = new BroadcastChannel(this.name);
    channel.onmessage = (e: MessageEvent<TabMessage>) => {
      const m = e.data;
      if (!m || typeof m !== 'object' || m.from === this.id) return;
      this.heard = true;
      if ('to' in m && m.to !== undefined && m.to !== this.id) return;
      if (m.t === 'host' && m.skip === this.id) return;
      this.receive(m);
    };
    this.channel = channel;
  }

  /**
   * Whether any other tab of this database has been heard from since this
   * one started. Every tab says `hello` when it joins (and when it follows a
   * new leader), so a leader that heard none is alone.
   */
  get heardOthers(): boolean {
    return this.heard;
  }

  /** Closed while the page sits in the back/forward cache (an open channel can keep it out). */
  close(): void {
    this.channel?.close();
    this.channel = null;
  }

  send(message: TabMessage): void {
    this.channel?.postMessage(message);
  }
}

function newTabId(): string {
  const c = (globalThis as { crypto?: { randomUUID?: () => string } }).crypto;
  return c?.randomUUID?.() ?? `${Date.now().toString(36)}-${Math.random().toString(36).slice(2)}`;
}
