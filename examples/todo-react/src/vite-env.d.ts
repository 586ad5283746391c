/// <reference types="vite/client" />

interface ImportMetaEnv {
  /** The sync server's events endpoint, e.g. http://127.0.0.1:8787/api/events. */
  readonly VITE_SYNC_URL?: string;
}

interface ImportMeta {
  readonly env: ImportMetaEnv;
}
