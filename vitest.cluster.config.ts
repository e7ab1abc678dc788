import { defineConfig } from 'vitest/config'
import { BaseSequencer, type TestSpecification } from 'vitest/node'

// `npm run test:cluster`: the scenarios of test/cluster against the current kube context
// (see test/cluster/settings.ts for the environment it reads). They share one cluster and
// measure timings on it, so files run one at a time, in the order of their numbered names
// (install first), and nothing runs beside them.
class ByName extends BaseSequencer {
  override sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    return Promise.resolve([...files].sort((a, b) => a.moduleId.localeCompare(b.moduleId)))
  }
}

export default defineConfig({
  test: {
    include: ['test/cluster/**/*.test.ts'],
    globalSetup: ['test/cluster/global-setup.ts'],
    fileParallelism: false,
    maxWorkers: 1,
    pool: 'forks',
    sequence: { sequencer: ByName },
    // Scenarios wait for rollouts, outages and probe budgets on a shared machine.
    testTimeout: 1_200_000,
    hookTimeout: 1_200_000,
    teardownTimeout: 600_000,
    reporters: ['default'],
  },
})
