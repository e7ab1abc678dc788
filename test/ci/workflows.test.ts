// The clone's own CI (.github/): the workflows pass actionlint, and keep the properties
// the README promises: the README's test command on the current and the next Node LTS,
// the cluster suite on kind, least-privilege permissions, superseded runs cancelled, and
// grouped Dependabot updates for every ecosystem the repository has.
import { execFile } from 'node:child_process'
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { parse } from 'yaml'
import { repoRoot } from '../chart/helm.js'
import { actionlintTool, findTool } from '../helpers/tools.js'

const workflowsDir = join(repoRoot, '.github', 'workflows')
const workflowFiles = readdirSync(workflowsDir).filter((f) => /\.ya?ml$/.test(f))

interface Step {
  run?: string
  uses?: string
  if?: string
  with?: Record<string, unknown>
  env?: Record<string, string>
}
interface Job {
  'runs-on': string
  permissions?: unknown
  strategy?: { matrix: { node: number[] } }
  steps: Step[]
}
interface Workflow {
  permissions: Record<string, string>
  concurrency: { group: string; 'cancel-in-progress': boolean }
  jobs: Record<string, Job>
}

const ci = parse(readFileSync(join(workflowsDir, 'ci.yml'), 'utf8')) as Workflow
const runs = (job: Job): string[] => job.steps.flatMap((s) => (s.run ? [s.run] : []))

describe('.github/workflows', () => {
  it('passes actionlint', async () => {
    // ACTIONLINT, else actionlint on PATH; missing, the test fails naming it (never skips).
    const bin = findTool(actionlintTool)
    const result = await new Promise<{ code: number; output: string }>((resolve) => {
      execFile(bin, ['-no-color', ...workflowFiles.map((f) => join('.github', 'workflows', f))], { cwd: repoRoot, timeout: 60_000 }, (err, stdout, stderr) =>
        resolve({ code: err ? Number(err.code ?? 1) : 0, output: `${stdout}${stderr}` }),
      )
    })
    expect(result.output).toBe('')
    expect(result.code).toBe(0)
  })

  it("ci.yml runs the README's test command on the current and the next Node LTS", () => {
    const readme = readFileSync(join(repoRoot, 'README.md'), 'utf8')
    expect(readme).toContain('npm ci && npm test')
    expect(ci.jobs.test!.strategy!.matrix.node).toEqual([24, 26])
    expect(runs(ci.jobs.test!)).toContain('npm ci && npm test')
    // The tools npm test needs besides Docker, installed by the script the error messages name.
    expect(runs(ci.jobs.test!).join('\n')).toContain('scripts/install-tools.sh')
  })

  it('ci.yml runs the cluster suite on kind and dumps the cluster state when it fails', () => {
    const job = ci.jobs.cluster!
    expect(job.steps.some((s) => s.uses?.startsWith('helm/kind-action@'))).toBe(true)
    expect(runs(job)).toContain('npm run test:cluster')
    const dump = job.steps.find((s) => s.if === 'failure()')
    expect(dump?.run).toMatch(/kubectl .*describe pods/)
    expect(dump?.run).toMatch(/kubectl .*logs/)
  })

  it('every workflow reads only, and cancels superseded runs', () => {
    for (const file of workflowFiles) {
      const wf = parse(readFileSync(join(workflowsDir, file), 'utf8')) as Workflow
      expect(wf.permissions, file).toEqual({ contents: 'read' })
      for (const [name, job] of Object.entries(wf.jobs)) expect(job.permissions, `${file}: ${name}`).toBeUndefined()
      expect(wf.concurrency['cancel-in-progress'], file).toBe(true)
      expect(wf.concurrency.group, file).toContain('github.workflow')
    }
  })
})

describe('.github/dependabot.yml', () => {
  it('updates npm, Docker and GitHub Actions, each in groups', () => {
    const config = parse(readFileSync(join(repoRoot, '.github', 'dependabot.yml'), 'utf8')) as {
      updates: { 'package-ecosystem': string; groups?: Record<string, unknown> }[]
    }
    expect(config.updates.map((u) => u['package-ecosystem']).sort()).toEqual(['docker', 'github-actions', 'npm'])
    for (const u of config.updates) expect(Object.keys(u.groups ?? {}).length, u['package-ecosystem']).toBeGreaterThan(0)
  })
})
