import { defineConfig } from 'vitest/config';

// One test file at a time in a forked process: every file owns a Dawn device, and on lavapipe each
// device already uses every core. Forks (not worker threads) keep dawn.node in a plain process.
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    pool: 'forks',
    fileParallelism: false,
    testTimeout: 120_000,
    hookTimeout: 120_000,
    reporters: ['default'],
  },
});
