// Bundles the test pages with esbuild, the way an app bundles the package.
import { build } from 'esbuild';

const here = new URL('.', import.meta.url).pathname;

export async function bundle({ production = false } = {}) {
  await build({
    entryPoints: [`${here}pages/harness.ts`, `${here}pages/readme.tsx`, `${here}pages/tabs.ts`, `${here}pages/blank.ts`],
    outdir: `${here}.out`,
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    jsx: 'automatic',
    // TanStack DB checks NODE_ENV; development also catches rows mutated in place.
    define: { 'process.env.NODE_ENV': production ? '"production"' : '"development"' },
    logLevel: 'error',
  });
}

if (import.meta.url === `file://${process.argv[1]}`) await bundle();
