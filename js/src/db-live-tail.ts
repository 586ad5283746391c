/**
 * The live tail: reads the server's Server-Sent Events stream
 * (`<pull URL>/stream?since=<cursor>`, a protocol extension) and calls
 * `onEvent` for each event, so other devices' writes arrive without polling.
 * The events themselves are then pulled by a normal sync round, which keeps
 * one path (and one durable cursor) for everything pulled.
 *
 * Uses `fetch` rather than `EventSource` so the app's headers (tokens) are
 * sent. A server without the stream (404/405/501) is left alone.
 */

export interface LiveTailOptions {
  /** The stream URL for a cursor. */
  url(cursor: string): string;
  /** The current pull cursor. */
  cursor(): Promise<string>;
  /** The app's headers for this request. */
  headers(): Promise<Record<string, string>>;
  /** An event arrived. */
  onEvent(): void;
  /** Reconnect delay bounds (ms). */
  baseDelayMs?: number;
  maxDelayMs?: number;
}

export class LiveTail {
  private controller: AbortController | null = null;
  private running = false;
  private unsupported = false;

  constructor(private readonly options: LiveTailOptions) {}

  /** Connects (again); a no-op while connected or when the server lacks the stream. */
  start(): void {
    if (this.running || this.unsupported || typeof fetch !== 'function') return;
    this.running = true;
    void this.loop();
  }

  /** Disconnects; `start` reconnects from the current cursor. */
  stop(): void {
    this.running = false;
    this.controller?.abort();
    this.controller = null;
  }

  private async loop(): Promise<void> {
    let failures = 0;
    while (this.running) {
      const controller = new AbortController();
      this.controller = controller;
      try {
        const url = this.options.url(await this.options.cursor());
        const headers = { ...(await this.options.headers()), Accept: 'text/event-stream' };
        const response = await fetch(url, { headers, signal: controller.signal, cache: 'no-store' });
        if (response.status === 404 || response.status === 405 || response.status === 501) {
          this.unsupported = true;
          this.running = false;
          return;
        }
        if (!response.ok || !response.body) throw new Error(`live tail: HTTP ${response.status}`);
        failures = 0;
        await this.read(response.body);
      } catch {
        if (!this.running || controller.signal.aborted) return;
      }
      if (!this.running) return;
      // The stream ended or failed: reconnect with backoff and jitter.
      const base = this.options.baseDelayMs ?? 1000;
      const max = this.options.maxDelayMs ?? 30_000;
      const delay = Math.min(max, base * 2 ** failures) * (0.5 + Math.random() / 2);
      failures++;
      await new Promise((resolve) => setTimeout(resolve, delay));
    }
  }

  /** Splits the stream into messages; each one with a `data:` field is an event. */
  private async read(body: ReadableStream<Uint8Array>): Promise<void> {
    const reader = body.getReader();
    const decoder = new TextDecoder();
    let buffer = '';
    let hasData = false;
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return;
      buffer += decoder.decode(value, { stream: true });
      let nl: number;
      while ((nl = buffer.indexOf('\n')) >= 0) {
        const line = buffer.slice(0, nl).replace(/\r$/, '');
        buffer = buffer.slice(nl + 1);
        if (line === '') {
          if (hasData) this.options.onEvent();
          hasData = false;
        } else if (line.startsWith('data:')) {
          hasData = true;
        }
      }
    }
  }
}
