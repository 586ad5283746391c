// A tiny static server on loopback for the test pages: /<page>.html, the
// bundles in .out/, and the package's own files (worker.js, the wasm) beside
// them, where `new URL('./worker.js', import.meta.url)` looks.
import { createHash } from 'node:crypto';
import { createServer } from 'node:http';
import { readFile } from 'node:fs/promises';
import { extname, join, normalize } from 'node:path';

const here = new URL('.', import.meta.url).pathname;
const roots = [join(here, '.out'), join(here, 'node_modules/@eventsourced/db')];
const types = { '.js': 'text/javascript', '.wasm': 'application/wasm', '.html': 'text/html', '.map': 'application/json' };
const page = (script) =>
  `<!doctype html><html><head><meta charset="utf-8"><title>${script}</title></head>` +
  `<body><div id="root"></div><script type="module" src="/app/${script}.js"></script></body></html>`;

export function startStaticServer() {
  const server = createServer(async (req, res) => {
    const path = new URL(req.url, 'http://x').pathname;
    if (path === '/favicon.ico') {
      // Otherwise a 404 in every page's console.
      res.writeHead(204).end();
      return;
    }
    const html = /^\/(\w+)\.html$/.exec(path);
    if (html) {
      res.writeHead(200, { 'content-type': 'text/html' }).end(page(html[1]));
      return;
    }
    if (path.startsWith('/app/')) {
      const rel = normalize(path.slice('/app/'.length));
      if (!rel.startsWith('..')) {
        for (const root of roots) {
          try {
            const body = await readFile(join(root, rel));
            // Revalidated like a deployed app's assets, so a reload gets the
            // browser's caches (V8 keeps compiled wasm beside a cached response).
            const etag = `"${createHash('sha1').update(body).digest('base64url')}"`;
            const headers = { 'cache-control': 'no-cache', etag };
            if (req.headers['if-none-match'] === etag) {
              res.writeHead(304, headers).end();
              return;
            }
            res.writeHead(200, { ...headers, 'content-type': types[extname(rel)] ?? 'application/octet-stream' }).end(body);
            return;
          } catch {}
        }
      }
    }
    res.writeHead(404).end('not found');
  });
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      resolve({ url: `http://127.0.0.1:${port}`, close: () => new Promise((r) => server.close(r)) });
    });
  });
}
