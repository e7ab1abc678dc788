// The template survives being made into a service: the repository's files (git's tracked and
// untracked-but-not-ignored ones) are copied twice to a temporary directory, one copy renamed
// with `npm run init` to the longest name it accepts, the other to `orders` with
// `--strip-example`; each then passes its own
// type-check, lint, unit, chart and docs tests, and names the template nowhere but in the
// files init keeps on purpose. Under CI=true, the stripped copy runs its whole `npm test`.
// node_modules is linked into the copies, not installed.
import { spawn } from 'node:child_process'
import { appendFileSync, cpSync, existsSync, lstatSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { KEEPS_TEMPLATE_NAME, MAX_NAME_LENGTH, pascalCase, RECORD_FILE, TEMPLATE, TEMPLATE_NAME_PATTERN } from '../../scripts/init.js'
import { repoRoot } from '../chart/helm.js'

interface Run {
  code: number | null
  stdout: string
  stderr: string
  ms: number
}

// The copies' own vitest must not think it runs inside this one.
const env = Object.fromEntries(Object.entries(process.env).filter(([key]) => !key.startsWith('VITEST')))

function run(cwd: string, command: string, args: string[], extraEnv: Record<string, string> = {}): Promise<Run> {
  const start = performance.now()
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd, env: { ...env, ...extraEnv }, stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()))
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()))
    child.on('error', reject)
    child.on('close', (code) => resolve({ code, stdout, stderr, ms: Math.round(performance.now() - start) }))
  })
}

const ok = (r: Run) => expect(r.code, `${r.stdout}\n${r.stderr}`).toBe(0)
const git = (cwd: string, ...args: string[]) => run(cwd, 'git', ['-c', 'user.name=test', '-c', 'user.email=test@example.com', ...args])

/** The files of a work tree, as init lists them. */
async function files(cwd: string): Promise<string[]> {
  const r = await git(cwd, 'ls-files', '-z', '--cached', '--others', '--exclude-standard')
  ok(r)
  return r.stdout.split('\0').filter((f) => f !== '' && existsSync(join(cwd, f)) && lstatSync(join(cwd, f)).isFile())
}

/** A copy of the repository as a fresh clone would have it: its files, one commit, node_modules linked. */
async function copy(): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'template-copy-'))
  for (const file of await files(repoRoot)) cpSync(join(repoRoot, file), join(dir, file), { recursive: true })
  symlinkSync(join(repoRoot, 'node_modules'), join(dir, 'node_modules'), 'dir')
  ok(await git(dir, 'init', '-q', '-b', 'main'))
  // .gitignore's `node_modules/` matches a directory, not the link.
  appendFileSync(join(dir, '.git', 'info', 'exclude'), '/node_modules\n')
  ok(await git(dir, 'add', '-A'))
  ok(await git(dir, 'commit', '-q', '-m', 'template'))
  return dir
}

/**
 * What the stripped example leaves nowhere: its markers, its routes (not Prometheus' /api/v1 or
 * Jaeger's /api/traces), its files, its table (not the fixture's fixture_items) and its setting.
 */
const EXAMPLE_LEFTOVER = /example:(begin|end|line)|\/api\/(items|slow|events)\b|routes\/(items|events)\.ts|\bitems`? table|\b(FROM|INTO|ON|TABLE) items\b|CACHE_TTL_SECONDS|cacheTtlSeconds/i

const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm'
const init = (cwd: string, ...args: string[]) => run(cwd, process.execPath, ['scripts/init.ts', ...args])

/** Every file (by name or content) that still names the template, but those init keeps on purpose. */
async function namingTemplate(cwd: string): Promise<string[]> {
  const found: string[] = []
  for (const file of await files(cwd)) {
    if (KEEPS_TEMPLATE_NAME.includes(file)) continue
    if (TEMPLATE_NAME_PATTERN.test(file) || TEMPLATE_NAME_PATTERN.test(readFileSync(join(cwd, file), 'latin1'))) found.push(file)
  }
  return found
}

/** The copy's own checks: type-check, lint, unit, chart and docs tests. */
async function checks(cwd: string): Promise<Record<string, number>> {
  const times: Record<string, number> = {}
  for (const [name, args] of [
    ['build', ['run', 'build']],
    ['typecheck', ['run', 'typecheck']],
    ['lint', ['run', 'lint']],
    ['unit, chart and docs tests', ['exec', '--', 'vitest', 'run', 'test/unit', 'test/chart', 'test/docs']],
  ] as const) {
    const r = await run(cwd, npm, [...args])
    ok(r)
    times[name] = r.ms
  }
  return times
}

const copies: string[] = []
// The renamed copy takes the longest name init accepts: every name the chart derives from it
// must still be valid (the chart tests of the copy check each object's names and labels).
const LONGEST = `orders-${'x'.repeat(MAX_NAME_LENGTH - 'orders-'.length)}`
afterAll(() => {
  for (const dir of copies) rmSync(dir, { recursive: true, force: true })
})

describe(`npm run init -- ${LONGEST} (the longest name)`, () => {
  let dir: string
  beforeAll(async () => {
    dir = await copy()
    copies.push(dir)
  })

  it.each([
    ['Orders', /DNS-1035/],
    ['9orders', /DNS-1035/],
    ['orders-', /DNS-1035/],
    ['my_orders', /DNS-1035/],
    ['o'.repeat(MAX_NAME_LENGTH + 1), new RegExp(`at most ${MAX_NAME_LENGTH} fit: .*-cluster-test-gating.*must fit 63`)],
    [TEMPLATE.name, /the template's own name/],
  ])('refuses %s: exit 2, one line, nothing changed', async (name, message) => {
    const r = await init(dir, name)
    expect(r.code).toBe(2)
    expect(r.stderr).toMatch(message)
    expect(r.stderr.trim().split('\n')).toHaveLength(1)
    expect((await git(dir, 'status', '--porcelain')).stdout).toBe('')
  })

  it('renames everything: no file names the template but those init keeps on purpose', async () => {
    const r = await run(dir, npm, ['run', '-s', 'init', '--', LONGEST])
    ok(r)
    console.log(`[template] init ${LONGEST}: ${r.stdout.trim()} (${r.ms} ms)`)
    expect(await namingTemplate(dir)).toEqual([])
    expect(JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'))).toMatchObject({ name: LONGEST })
    expect(readFileSync(join(dir, 'helm', LONGEST, 'Chart.yaml'), 'utf8')).toMatch(new RegExp(`^name: ${LONGEST}$`, 'm'))
    expect(readFileSync(join(dir, 'src', 'migrate.ts'), 'utf8')).toContain(`MIGRATIONS_OWNER = '${LONGEST.replaceAll('-', '_')}'`)
    expect(readFileSync(join(dir, 'docs', 'metrics.md'), 'utf8')).toContain(`alert: ${pascalCase(LONGEST)}PodNotReady`)
    expect(existsSync(join(dir, 'test', 'template'))).toBe(false)
    const head = (await git(dir, 'rev-parse', 'HEAD')).stdout.trim()
    expect(JSON.parse(readFileSync(join(dir, RECORD_FILE), 'utf8'))).toEqual({ template: TEMPLATE.repository, commit: head, name: LONGEST, exampleStripped: false })
    // As git mv: the chart's files show as renamed.
    expect((await git(dir, 'status', '--porcelain')).stdout).toContain(`helm/${TEMPLATE.name}/Chart.yaml -> helm/${LONGEST}/Chart.yaml`)
  })

  it('twice with the same name: nothing to do; another name: refused, explained', async () => {
    const before = (await git(dir, 'status', '--porcelain')).stdout
    const again = await init(dir, LONGEST)
    ok(again)
    expect(again.stdout).toMatch(/^nothing to do: 0 files/)
    expect((await git(dir, 'status', '--porcelain')).stdout).toBe(before)
    const other = await init(dir, 'payments')
    expect(other.code).toBe(1)
    expect(other.stderr).toMatch(new RegExp(`already named ${LONGEST} .*rename it by hand \\(docs/template\\.md\\)`))
  })

  it("passes its own type-check, lint, unit, chart and docs tests", async () => {
    console.log('[template] renamed copy:', await checks(dir))
  })
})

describe('npm run init -- orders --strip-example', () => {
  let dir: string
  beforeAll(async () => {
    dir = await copy()
    copies.push(dir)
  })

  it('removes the example API, its tests and its setting, and names the template nowhere', async () => {
    const r = await init(dir, 'orders', '--strip-example')
    ok(r)
    console.log(`[template] init orders --strip-example: ${r.stdout.trim()} (${r.ms} ms)`)
    expect(await namingTemplate(dir)).toEqual([])
    const left = await files(dir)
    expect(left.filter((f) => /^src\/routes\/(items|events)\.ts$|^test\/.*example-[^/]*\.test\.ts$/.test(f))).toEqual([])
    // No file describes the example as if it were still there (docs, comments, values, the
    // chart README): its markers, routes, files, table and setting are gone from every file but
    // those init leaves as they are (KEEPS_TEMPLATE_NAME: init itself, docs/template.md, its record).
    const leftovers = left.filter((f) => !KEEPS_TEMPLATE_NAME.includes(f)).flatMap((file) =>
      readFileSync(join(dir, file), 'latin1')
        .split('\n')
        .flatMap((line, i) => (EXAMPLE_LEFTOVER.test(line) ? [`${file}:${i + 1}: ${line.trim()}`] : [])),
    )
    expect(leftovers).toEqual([])
    const spec = JSON.parse(readFileSync(join(dir, 'docs', 'openapi.json'), 'utf8')) as { paths: Record<string, unknown> }
    expect(Object.keys(spec.paths).filter((p) => p.startsWith('/api/'))).toEqual([])
    expect(JSON.parse(readFileSync(join(dir, RECORD_FILE), 'utf8'))).toMatchObject({ name: 'orders', exampleStripped: true })
  })

  it('passes its own type-check, lint, unit, chart and docs tests (the probes and /openapi.json still there)', async () => {
    console.log('[template] stripped copy:', await checks(dir))
  })

  it.runIf(process.env.CI === 'true')('passes its whole npm test (CI)', async () => {
    const r = await run(dir, npm, ['test'])
    ok(r)
    console.log(`[template] stripped copy's npm test: ${Math.round(r.ms / 1000)} s`)
  })
})
