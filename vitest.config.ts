import { defineConfig } from 'vitest/config';

// One run covers every package and app. Integration tests (*.int.test.ts) talk to the real
// Redis and MariaDB on the machine and to the simulator over loopback HTTP; each test file
// isolates itself (own queue prefix, own database), so files run in parallel.
export default defineConfig({
  test: {
    include: ['apps/*/test/**/*.test.ts', 'packages/*/test/**/*.test.ts', 'test/**/*.test.ts'],
    globalSetup: ['./test/global-setup.ts'],
    pool: 'forks',
    maxWorkers: 2,
    testTimeout: 30_000,
    hookTimeout: 60_000,
    reporters: process.env.CI ? ['default', ['json', { outputFile: '.test-reports/vitest.json' }]] : ['default'],
  },
});
