// Bundles the test pages with esbuild, the way an app bundles the package.
import { build } from 'esbuild';
import { readFileSync } from 'node:fs';

const here = new URL('.', import.meta.url).pathname;
const manifest = JSON.parse(readFileSync(`${here}node_modules/@eventsourced/db/package.json`, 'utf8'));
const alias = {};
if (!manifest.exports?.['./react']) {
  // The package manifest (pkg-template/) does not export ./react yet.
  console.warn('build: pkg/package.json has no "./react" export; aliasing @eventsourced/db/react to its file');
  alias['@eventsourced/db/react'] = `${here}node_modules/@eventsourced/db/react.js`;
}

export async function bundle({ production = false } = {}) {
  await build({
    entryPoints: [`${here}pages/harness.ts`, `${here}pages/readme.tsx`],
    outdir: `${here}.out`,
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    jsx: 'automatic',
    alias,
    // TanStack DB checks NODE_ENV; development also catches rows mutated in place.
    define: { 'process.env.NODE_ENV': production ? '"production"' : '"development"' },
    logLevel: 'error',
  });
}

if (import.meta.url === `file://${process.argv[1]}`) await bundle();
