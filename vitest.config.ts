import { configDefaults, defineConfig } from 'vitest/config'

// Container-backed suites start real Postgres, Redis and Toxiproxy containers and
// child processes: give hooks time for image pulls/builds on a cold machine.
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // The cluster suite needs a live Kubernetes: `npm run test:cluster` (vitest.cluster.config.ts).
    // The template suite runs copies' own checks, after this run (vitest.template.config.ts).
    exclude: [...configDefaults.exclude, 'test/cluster/**', 'test/template/**'],
    testTimeout: 60_000,
    hookTimeout: 300_000,
    pool: 'forks',
    // Two cores: run container suites two at a time at most, so timing-sensitive
    // shutdown tests are not starved by a parallel image build.
    maxWorkers: 2,
    reporters: ['default'],
  },
})
