// Starts the reference sync server (built by `make test-package`) on a free
// loopback port with a throwaway SQLite file; `stop()` kills it by PID.
// Shared by the Node tests, the browser tests and the benchmark.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const ROOT = new URL('../../', import.meta.url).pathname;
export const SERVER_BIN =
  process.env.ESDB_SYNC_SERVER_BIN ?? join(ROOT, 'target/debug/eventsourced-sync-server');

export function freePort() {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

/**
 * @param {{ args?: string[], port?: number, dir?: string }} [options]
 *   `dir`: keep the database there (to restart a server on the same data).
 */
export async function startSyncServer(options = {}) {
  const port = options.port ?? (await freePort());
  const dir = options.dir ?? mkdtempSync(join(tmpdir(), 'esdb-server-'));
  const url = `http://127.0.0.1:${port}`;
  const child = spawn(
    SERVER_BIN,
    ['--database', `sqlite:${join(dir, 'server.sqlite')}`, '--listen', `127.0.0.1:${port}`, '--heartbeat-secs', '2', ...(options.args ?? [])],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let log = '';
  child.stderr.on('data', (d) => (log += d));
  const exited = new Promise((resolve) => child.once('exit', resolve));
  for (let i = 0; ; i++) {
    try {
      const r = await fetch(`${url}/healthz`);
      if (r.ok) break;
    } catch {}
    if (i > 100 || child.exitCode !== null) throw new Error(`sync server did not start: ${log}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    url,
    port,
    dir,
    pid: child.pid,
    async stop({ keep = options.dir !== undefined } = {}) {
      if (child.exitCode === null) {
        process.kill(child.pid, 'SIGTERM');
        await exited;
      }
      if (!keep) rmSync(dir, { recursive: true, force: true });
    },
  };
}
