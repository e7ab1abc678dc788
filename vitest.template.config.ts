import { defineConfig } from 'vitest/config'

// The template suite (test/template): init on copies of the repository, then each copy's own
// type-check, lint and tests (under CI=true the renamed and stripped copy's whole npm test,
// container suites included). `npm test` runs it after the main run, never beside it: two
// container-backed suites at once on a small machine would starve each other's timings.
export default defineConfig({
  test: {
    include: ['test/template/**/*.test.ts'],
    fileParallelism: false,
    maxWorkers: 1,
    pool: 'forks',
    // A copy's whole npm test (CI) takes as long as the main run: these are timeouts, not bounds.
    testTimeout: 3_600_000,
    hookTimeout: 600_000,
    reporters: ['default'],
  },
})
