// The chart's README (Artifact Hub shows it) carries the values table that
// readme-generator-for-helm generates from values.yaml's `## @param` comments: regenerated
// here into a copy, it must come out unchanged, or `npm run docs:chart` was not run.
import { execFile } from 'node:child_process'
import { copyFileSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { chartDir, defaultValues, repoRoot } from './helm.js'

const generator = join(repoRoot, 'node_modules', '@bitnami', 'readme-generator-for-helm', 'bin', 'index.js')

describe('helm/service-template/README.md', () => {
  it("has the values table generated from values.yaml's @param comments (npm run docs:chart)", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'chart-readme-'))
    try {
      const copy = join(dir, 'README.md')
      copyFileSync(join(chartDir, 'README.md'), copy)
      const output = await new Promise<string>((resolve, reject) => {
        execFile(process.execPath, [generator, '--values', defaultValues, '--readme', copy], { timeout: 60_000 }, (err, stdout, stderr) =>
          err ? reject(new Error(`readme-generator failed: ${stdout}${stderr}`, { cause: err })) : resolve(stdout),
        )
      })
      expect(output).toContain('Metadata is correct')
      const committed = readFileSync(join(chartDir, 'README.md'), 'utf8')
      expect(readFileSync(copy, 'utf8'), 'the chart README is stale: run `npm run docs:chart`').toBe(committed)
      expect(committed).toContain('| `termination.drainSeconds`')
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
})
