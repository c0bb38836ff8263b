import { defineConfig } from 'vitest/config';

export default defineConfig({
  // graphql ships both CommonJS and ESM; Pothos and Yoga load the CommonJS one, so tests must too
  // (two copies of graphql refuse each other's types).
  resolve: { alias: [{ find: /^graphql$/, replacement: 'graphql/index.js' }] },
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/support/global-setup.ts'],
    // Each file gets its own process, its own database and its own server.
    pool: 'forks',
    testTimeout: 30_000,
    hookTimeout: 90_000,
    teardownTimeout: 30_000,
  },
});
