/**
 * The dedicated worker entry: the wasm core over SQLite on OPFS.
 *
 * The glue is imported statically (a dynamic `import()` in a worker breaks
 * Vite 7 builds) and the worker posts `ready` as soon as this module has
 * loaded, so the client can tell a worker URL that failed from a slow one.
 * The wasm is instantiated by the first `open` (which may carry `wasmUrl`).
 */

import init, { EventSourcedCore } from './eventsourced_db.js';
import { CoreHost } from './worker-host.js';
import { PROTOCOL_VERSION, type FromHost, type ToHost, type WasmModuleMessage } from './protocol.js';

/** The parts of `DedicatedWorkerGlobalScope` used here (the DOM lib types `self` as a window). */
interface WorkerScope {
  postMessage(message: FromHost): void;
  addEventListener(type: 'message', listener: (event: MessageEvent<ToHost | WasmModuleMessage>) => void): void;
}

const scope = self as unknown as WorkerScope;

let loaded: Promise<typeof EventSourcedCore> | null = null;
/** The default wasm, compiled by the page while this worker started. */
let precompiled: WebAssembly.Module | undefined;

function load(wasmUrl: string | undefined): Promise<typeof EventSourcedCore> {
  const source = wasmUrl ?? precompiled ?? new URL('./eventsourced_db_bg.wasm', import.meta.url);
  loaded ??= init({ module_or_path: source }).then(() => EventSourcedCore);
  return loaded;
}

// A task queued behind the messages that already wait for this worker: the
// captures that piled up during a commit are taken in the next flush.
const channel = new MessageChannel();
const tasks: Array<() => void> = [];
channel.port1.onmessage = () => tasks.shift()?.();

const host = new CoreHost({
  load,
  post: (message) => scope.postMessage(message),
  schedule: (task) => {
    tasks.push(task);
    channel.port2.postMessage(null);
  },
});

scope.addEventListener('message', (event) => {
  const message = event.data;
  if (message.type === 'wasmModule') precompiled = message.module;
  else host.receive(message);
});
scope.postMessage({ type: 'ready', protocol: PROTOCOL_VERSION });
