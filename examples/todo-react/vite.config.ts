import react from '@vitejs/plugin-react';
import { defineConfig } from 'vite';

export default defineConfig({
  plugins: [react()],
  resolve: {
    // @eventsourced/db is a `file:` link to ../../pkg: keep its path under
    // node_modules so @tanstack/db and react resolve to this app's single copy.
    preserveSymlinks: true,
  },
  // React and TanStack DB's query engine make one ~550 kB chunk; the wasm is its own asset.
  build: { chunkSizeWarningLimit: 700 },
  server: { port: 5173, strictPort: true },
  preview: { port: 5173, strictPort: true },
});
