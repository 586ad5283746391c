/**
 * In-process mode: the host and the wasm core in the caller's thread, behind
 * the same `Endpoint` as a worker. For Node and tests, where there is no
 * dedicated worker and no OPFS: open with `storage: 'memory'`.
 */

import type { EventSourcedCore, InitInput } from './eventsourced_db.js';
import { CoreHost } from './worker-host.js';
import { PROTOCOL_VERSION, type Endpoint, type FromHost } from './protocol.js';

export interface LocalOptions {
  /** The wasm's URL (a `file:` URL is read from disk in Node). */
  wasmUrl?: string | URL;
  /** The wasm's bytes or compiled module instead of a URL. */
  wasm?: BufferSource | WebAssembly.Module;
}

/** Starts a host in this thread and returns the endpoint to it. */
export function createLocalEndpoint(options: LocalOptions): Endpoint {
  let listener: ((message: FromHost) => void) | null = null;
  const deliver = (message: FromHost) => queueMicrotask(() => listener?.(message));
  let loaded: Promise<typeof EventSourcedCore> | null = null;
  const host = new CoreHost({
    load: (wasmUrl) => (loaded ??= loadGlue(options.wasm, wasmUrl ?? options.wasmUrl)),
    post: deliver,
    schedule: (task) => queueMicrotask(task),
  });
  deliver({ type: 'ready', protocol: PROTOCOL_VERSION });
  return {
    post: (message) => queueMicrotask(() => host.receive(message)),
    listen: (l) => {
      listener = l;
    },
    onFailure: () => {},
    terminate: () => {
      listener = null;
    },
  };
}

async function loadGlue(
  wasm: BufferSource | WebAssembly.Module | undefined,
  wasmUrl: string | URL | undefined,
): Promise<typeof EventSourcedCore> {
  // Dynamic here (main thread): worker mode never downloads the glue twice.
  const glue = await import('./eventsourced_db.js');
  const source: InitInput = wasm ?? (await fetchable(new URL(wasmUrl ?? './eventsourced_db_bg.wasm', import.meta.url)));
  await glue.default({ module_or_path: source });
  return glue.EventSourcedCore;
}

/** Node's fetch has no `file:` support: read such URLs from disk. */
async function fetchable(url: URL): Promise<InitInput> {
  if (url.protocol !== 'file:') return url;
  // A variable specifier: bundlers for the browser must not try to resolve it.
  const fsModule = 'node:fs/promises';
  const fs = (await import(/* @vite-ignore */ fsModule)) as { readFile(path: URL): Promise<Uint8Array> };
  return (await fs.readFile(url)) as unknown as BufferSource;
}
