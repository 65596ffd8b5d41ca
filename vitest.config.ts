import { defineConfig } from 'vitest/config';

// Two projects: fast unit tests beside the code, and integration tests on a real Docker engine
// (one file at a time: each brings up a stack, and the machines have two cores).
export default defineConfig({
  test: {
    env: { TESTCONTAINERS_RYUK_DISABLED: 'true' },
    // One file at a time: integration files each bring up a stack, and unit files take a second.
    fileParallelism: false,
    projects: [
      {
        test: {
          name: 'unit',
          include: ['{agents,checker,core,engine,infra,probes,reports,scenarios,systems}/**/*.test.ts'],
          environment: 'node',
        },
      },
      {
        test: {
          name: 'integration',
          include: ['test/integration/**/*.test.ts'],
          environment: 'node',
          testTimeout: 120_000,
          hookTimeout: 60_000,
        },
      },
    ],
  },
});
