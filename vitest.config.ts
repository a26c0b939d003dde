import { defineConfig } from 'vitest/config';

// Two projects: fast unit tests (pure logic, in-process driver, RocksDB on tmp dirs) and
// integration tests against the real broker/registry started by scripts/stack.mjs.
// Integration files run one at a time (package.json passes --no-file-parallelism): one broker, two cores.
export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          include: ['test/unit/**/*.test.ts'],
          testTimeout: 60_000,
        },
      },
      {
        test: {
          name: 'integration',
          include: ['test/integration/**/*.test.ts'],
          globalSetup: ['test/support/global-setup.ts'],
          testTimeout: 600_000,
          hookTimeout: 600_000,
        },
      },
    ],
  },
});
