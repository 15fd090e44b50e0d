import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    // Integration tests start real brokers on ephemeral ports; two cores means two forks.
    pool: 'forks',
    maxWorkers: 2,
  },
});
