import { defineConfig } from 'vitest/config';
import react from '@vitejs/plugin-react';

// The UI is served by the proxy itself (embedded in the binary) and by the desktop shell, so
// asset paths are relative and the dev server proxies the API to a running `serve`.
export default defineConfig({
  base: './',
  plugins: [react()],
  build: {
    outDir: 'dist',
    chunkSizeWarningLimit: 1200,
  },
  server: {
    proxy: {
      '/api': 'http://127.0.0.1:8787',
      '/v1': 'http://127.0.0.1:8787',
    },
  },
  test: {
    include: ['test/**/*.test.ts'],
    environment: 'node',
  },
});
