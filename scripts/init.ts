// Turns a clone of the template into your service: `npm run init -- <name> [--strip-example]`.
// Dependency-free, run by Node's type stripping (no build, no install needed). See
// docs/template.md for what it changes, how to do it by hand, and the upgrade path.
//
// It works by plain text replacement over the repository's files (git's tracked and
// untracked-but-not-ignored ones; every file but node_modules, dist and .git without git),
// so it keeps working as the template changes:
//   k8s-fastify-service-template, service-template -> <name>        (package, image, chart, labels)
//   service_template                               -> <name_>       (the migration table's owner)
//   ServiceTemplate                                -> <PascalName>  (alert names)
// and paths are renamed the same way (helm/service-template -> helm/<name>). Everything is
// computed and checked first, then written: a bad name or a broken marker changes nothing.
//
// --strip-example also removes the example API:
//   - the files in EXAMPLE_FILES and every test/**/example-*.test.ts;
//   - every block between lines marking `example:begin` and `example:end` (in any comment
//     syntax: //, #, <!-- -->, {{/* */}}), and single lines marking `example:line`;
//   - in JSON files (no comments there): the keys and strings of EXAMPLE_JSON_KEYS, and in
//     docs/openapi.json the operations tagged `example` and that tag.
import { execFileSync } from 'node:child_process'
import { existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, renameSync, rmdirSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'

/** The template's names, as it ships. */
export const TEMPLATE = { package: 'k8s-fastify-service-template', name: 'service-template', repository: 'https://github.com/example/k8s-fastify-service-template' }

/** Records where the service came from (template repository, commit): the upgrade path's start. */
export const RECORD_FILE = '.template.json'

/** Files that name the template on purpose and keep doing so: init leaves them as they are. */
export const KEEPS_TEMPLATE_NAME: readonly string[] = ['scripts/init.ts', 'docs/template.md', RECORD_FILE]

/** The template's own test of this script: meaningless once the clone is a service, so removed. */
export const TEMPLATE_ONLY: readonly string[] = ['test/template/', 'vitest.template.config.ts']
const TEMPLATE_TEST_SCRIPT = ' && vitest run --config vitest.template.config.ts'

/** Every spelling of the template's name init replaces (and the test then looks for), case-insensitively. */
export const TEMPLATE_NAME_PATTERN = /k8s-fastify-service-template|service-template|service_template|servicetemplate/i

export const EXAMPLE_FILES: readonly string[] = ['src/routes/items.ts', 'src/routes/events.ts']
const EXAMPLE_TEST = /^test\/(.+\/)?example-[^/]*\.test\.ts$/
const EXAMPLE_JSON_KEYS: readonly string[] = ['cacheTtlSeconds', 'CACHE_TTL_SECONDS']
const OPENAPI_FILE = 'docs/openapi.json'
const EXAMPLE_TAG = 'example'

/**
 * Names derived from the service's name that Kubernetes or Postgres limit to 63 characters,
 * longest suffix first: the name must leave room for each.
 */
export const DERIVED_NAMES: readonly (readonly [string, string])[] = [
  ["the cluster suite's startup-gating namespace (test/cluster/settings.ts)", '-cluster-test-gating'],
  ["the chart's test pod (templates/tests/test-ready.yaml)", '-test-ready'],
  ['the migration table (src/migrate.ts)', '_migrations'],
  ["the dev Postgres' app.kubernetes.io/name label (templates/dev-postgres.yaml)", '-postgres'],
]
const LIMIT = 63
export const MAX_NAME_LENGTH = LIMIT - Math.max(...DERIVED_NAMES.map(([, suffix]) => suffix.length))

class UsageError extends Error {}

/** Why `name` cannot be a service's name, or undefined. */
export function nameProblem(name: string): string | undefined {
  if (!/^[a-z]([-a-z0-9]*[a-z0-9])?$/.test(name)) {
    return `"${name}" is not a DNS-1035 label: lower-case letters, digits and '-', starting with a letter and ending with a letter or digit`
  }
  if (name.length > MAX_NAME_LENGTH) {
    const [what, suffix] = DERIVED_NAMES[0]!
    return `"${name}" has ${name.length} characters, at most ${MAX_NAME_LENGTH} fit: ${what}, "${name}${suffix}", must fit ${LIMIT}`
  }
  if (TEMPLATE_NAME_PATTERN.test(name)) return `"${name}" is the template's own name: choose your service's`
  return undefined
}

export const pascalCase = (name: string): string =>
  name
    .split('-')
    .map((word) => word.charAt(0).toUpperCase() + word.slice(1))
    .join('')

/** The text replacements for `name`, longest match first. */
export function renamer(name: string): (text: string) => string {
  const pairs: [RegExp, string][] = [
    [/k8s-fastify-service-template/g, name],
    [/service-template/g, name],
    [/service_template/g, name.replaceAll('-', '_')],
    [/ServiceTemplate/g, pascalCase(name)],
    [/SERVICE_TEMPLATE/g, name.replaceAll('-', '_').toUpperCase()],
  ]
  return (text) => pairs.reduce((out, [pattern, to]) => out.replace(pattern, to), text)
}

/** The text without its example blocks; throws on a marker without its pair. */
export function stripMarkers(text: string, file: string): string {
  const out: string[] = []
  let open = -1
  const lines = text.split('\n')
  lines.forEach((line, i) => {
    // A begin or end marker stands alone on its line (in comment syntax): text beside it would go with it.
    if (/example:(begin|end)/.test(line) && line.replace(/example:(begin|end)/, '').replace(/[\s/#*{}<>!-]/g, '') !== '') {
      throw new Error(`${file}:${i + 1}: text beside an example marker (it would be stripped with it): ${line.trim()}`)
    }
    if (line.includes('example:begin')) {
      if (open >= 0) throw new Error(`${file}:${i + 1}: example:begin inside the block opened at line ${open + 1}`)
      open = i
    } else if (line.includes('example:end')) {
      if (open < 0) throw new Error(`${file}:${i + 1}: example:end without example:begin`)
      open = -1
    } else if (open < 0 && !line.includes('example:line')) out.push(line)
  })
  if (open >= 0) throw new Error(`${file}:${open + 1}: example:begin without example:end`)
  return out.join('\n')
}

const CHART_README = /^helm\/[^/]+\/README\.md$/

/** Markdown tables with every column padded to its longest cell (readme-generator-for-helm's layout). */
export function alignTables(text: string): string {
  const lines = text.split('\n')
  for (let start = 0; start < lines.length; start++) {
    if (!lines[start]!.startsWith('| ')) continue
    let end = start
    while (end < lines.length && lines[end]!.startsWith('| ') && lines[end]!.endsWith(' |')) end++
    const rows = lines.slice(start, end).map((line) => line.slice(2, -2).split(' | ').map((cell) => cell.trim()))
    const columns = rows[0]!.length
    // A cell holding " | " would split wrongly: such a table is left as it is.
    if (rows.length >= 2 && rows.every((r) => r.length === columns) && rows[1]!.every((c) => /^-+$/.test(c))) {
      const widths = rows[0]!.map((_, i) => Math.max(3, ...rows.filter((_, r) => r !== 1).map((row) => row[i]!.length)))
      rows.forEach((row, r) => {
        lines[start + r] = `| ${row.map((cell, i) => (r === 1 ? '-'.repeat(widths[i]!) : cell.padEnd(widths[i]!))).join(' | ')} |`
      })
    }
    start = end
  }
  return lines.join('\n')
}

/** The `## @param` names of values.yaml inside example blocks. */
function removedParams(values: string, file: string): string[] {
  const kept = new Set(stripMarkers(values, file).split('\n'))
  return values
    .split('\n')
    .filter((line) => !kept.has(line))
    .flatMap((line) => /^\s*## @param (\S+)/.exec(line)?.[1] ?? [])
}

type Json = null | boolean | number | string | Json[] | { [key: string]: Json }

/** The JSON without the example's keys and strings (and, in an OpenAPI document, its operations and tag). */
function stripJson(value: Json, openapi: boolean): Json {
  if (Array.isArray(value)) {
    const kept = value.filter((v) => !(typeof v === 'string' && EXAMPLE_JSON_KEYS.includes(v)))
    return kept.filter((v) => !(openapi && isObject(v) && v.name === EXAMPLE_TAG)).map((v) => stripJson(v, openapi))
  }
  if (!isObject(value)) return value
  const out: { [key: string]: Json } = {}
  for (const [key, child] of Object.entries(value)) {
    if (EXAMPLE_JSON_KEYS.includes(key)) continue
    if (openapi && isObject(child) && Array.isArray(child.tags) && child.tags.includes(EXAMPLE_TAG)) continue
    const stripped = stripJson(child, openapi)
    // A path whose every operation was the example's.
    if (openapi && isObject(child) && Object.keys(child).length > 0 && isObject(stripped) && Object.keys(stripped).length === 0) continue
    out[key] = stripped
  }
  return out
}
/** The file rewritten (JSON.stringify's layout, as npm and the generators write) only when the example is in it. */
function stripJsonFile(text: string, file: string): string {
  let parsed: Json
  try {
    parsed = JSON.parse(text) as Json
  } catch {
    return text
  }
  const stripped = stripJson(parsed, file === OPENAPI_FILE)
  return JSON.stringify(stripped) === JSON.stringify(parsed) ? text : `${JSON.stringify(stripped, null, 2)}\n`
}
const isObject = (v: Json | undefined): v is { [key: string]: Json } => typeof v === 'object' && v !== null && !Array.isArray(v)

function git(root: string, args: string[]): string | undefined {
  try {
    return execFileSync('git', args, { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim()
  } catch {
    return undefined
  }
}

/** At the top of a git work tree (not a directory inside another repository). */
const inGit = (root: string): boolean => git(root, ['rev-parse', '--show-prefix']) === ''

const SKIP_DIRS = new Set(['.git', 'node_modules', 'dist', 'coverage'])

/** The repository's files: git's tracked and untracked-but-not-ignored ones; without git, every file outside SKIP_DIRS. */
export function repositoryFiles(root: string): string[] {
  const listed = inGit(root) ? git(root, ['ls-files', '-z', '--cached', '--others', '--exclude-standard']) : undefined
  if (listed !== undefined) {
    // Regular files only: not a symlink (a linked node_modules is no file of the repository).
    return [...new Set(listed.split('\0').filter((f) => f !== '' && existsSync(join(root, f)) && lstatSync(join(root, f)).isFile()))].sort()
  }
  const out: string[] = []
  const walk = (dir: string) => {
    for (const entry of readdirSync(join(root, dir), { withFileTypes: true })) {
      const path = dir === '' ? entry.name : `${dir}/${entry.name}`
      if (entry.isDirectory()) {
        if (!SKIP_DIRS.has(entry.name)) walk(path)
      } else if (entry.isFile()) out.push(path)
    }
  }
  walk('')
  return out.sort()
}

interface Plan {
  writes: Map<string, string>
  moves: [string, string][]
  deletes: string[]
}

export interface Options {
  root: string
  name: string
  stripExample: boolean
}

export interface Result {
  renamed: boolean
  stripped: boolean
  /** Files written, moved or deleted, and lines changed (added + removed) in those written. */
  files: number
  lines: number
}

interface TemplateRecord {
  template: string
  commit: string | null
  name: string
  exampleStripped: boolean
}

/** Plans and applies init; throws UsageError (exit 2) or Error (exit 1) before writing anything. */
export function init({ root, name, stripExample }: Options): Result {
  const problem = nameProblem(name)
  if (problem) throw new UsageError(`invalid name: ${problem}`)
  const recordPath = join(root, RECORD_FILE)
  const record = existsSync(recordPath) ? (JSON.parse(readFileSync(recordPath, 'utf8')) as TemplateRecord) : undefined
  if (record && record.name !== name) {
    throw new Error(`this service is already named ${record.name} (${RECORD_FILE}): init renames the template once; rename it by hand (docs/template.md)`)
  }
  if (!record && !existsSync(join(root, 'helm', TEMPLATE.name, 'Chart.yaml'))) {
    throw new Error(`no helm/${TEMPLATE.name}/Chart.yaml and no ${RECORD_FILE}: this is not the template, nothing to do`)
  }
  const rename = !record
  const strip = stripExample && !record?.exampleStripped
  const files = repositoryFiles(root).filter((f) => !KEEPS_TEMPLATE_NAME.includes(f))
  const plan: Plan = { writes: new Map(), moves: [], deletes: [] }
  const replace = renamer(name)
  // The chart README's values table is generated from values.yaml's @param comments: the rows
  // of the parameters the strip removes from values.yaml go too (as npm run docs:chart would).
  const strippedParams = strip ? files.filter((f) => /^helm\/[^/]+\/values\.yaml$/.test(f)).flatMap((f) => removedParams(readFileSync(join(root, f), 'utf8'), f)) : []
  for (const file of files) {
    if (rename && TEMPLATE_ONLY.some((p) => file === p || file.startsWith(p))) {
      plan.deletes.push(file)
      continue
    }
    if (strip && (EXAMPLE_FILES.includes(file) || EXAMPLE_TEST.test(file))) {
      plan.deletes.push(file)
      continue
    }
    const buffer = readFileSync(join(root, file))
    let text = buffer.includes(0) ? undefined : buffer.toString('utf8')
    if (text !== undefined) {
      const original = text
      if (strip) {
        text = stripMarkers(text, file)
        if (file.endsWith('.json')) text = stripJsonFile(text, file)
        if (CHART_README.test(file)) text = text.split('\n').filter((line) => !strippedParams.some((p) => line.startsWith(`| \`${p}\``))).join('\n')
      }
      if (rename) {
        text = replace(text)
        if (file === 'package.json') text = text.replace(TEMPLATE_TEST_SCRIPT, '')
        if (file === 'README.md') text = text.replace(/^# .*$/m, `# ${name}`)
      }
      // Padded to the longest cell of each column, as the generator writes it: names changed length.
      if (CHART_README.test(file)) text = alignTables(text)
      if (text !== original) plan.writes.set(file, text)
    }
    const target = rename ? replace(file) : file
    if (target !== file) plan.moves.push([file, target])
  }
  const lines = [...plan.writes].reduce((sum, [file, text]) => sum + changedLines(readFileSync(join(root, file), 'utf8'), text), 0)
  apply(root, plan)
  const commit = (inGit(root) && git(root, ['rev-parse', 'HEAD'])) || null
  const next: TemplateRecord = record
    ? { ...record, exampleStripped: record.exampleStripped || strip }
    : { template: (inGit(root) && git(root, ['remote', 'get-url', 'origin'])) || TEMPLATE.repository, commit, name, exampleStripped: strip }
  writeFileSync(recordPath, `${JSON.stringify(next, null, 2)}\n`)
  return { renamed: rename, stripped: strip, files: new Set([...plan.writes.keys(), ...plan.moves.map(([f]) => f), ...plan.deletes]).size, lines }
}

/** Lines added plus removed, by a longest-common-subsequence over the lines (the files are small). */
function changedLines(before: string, after: string): number {
  const a = before.split('\n')
  const b = after.split('\n')
  // Common prefix and suffix first: most edits touch a few lines of a long file.
  let start = 0
  while (start < a.length && start < b.length && a[start] === b[start]) start++
  let end = 0
  while (end < a.length - start && end < b.length - start && a[a.length - 1 - end] === b[b.length - 1 - end]) end++
  const x = a.slice(start, a.length - end)
  const y = b.slice(start, b.length - end)
  let row = new Array<number>(y.length + 1).fill(0)
  for (const line of x) {
    const next = new Array<number>(y.length + 1).fill(0)
    for (let j = 0; j < y.length; j++) next[j + 1] = line === y[j] ? row[j]! + 1 : Math.max(row[j + 1]!, next[j]!)
    row = next
  }
  return x.length + y.length - 2 * row[y.length]!
}

function apply(root: string, plan: Plan): void {
  const tracked = new Set(inGit(root) ? (git(root, ['ls-files', '-z']) ?? '').split('\0') : [])
  for (const [file, text] of plan.writes) writeFileSync(join(root, file), text)
  for (const file of plan.deletes) {
    if (tracked.has(file)) git(root, ['rm', '-q', '--cached', '--', file])
    rmSync(join(root, file), { force: true })
    removeEmptyDirs(root, dirname(file))
  }
  for (const [from, to] of plan.moves) {
    mkdirSync(dirname(join(root, to)), { recursive: true })
    // As `git mv`: the index follows, so `git status` shows renames, not deletions.
    if (!(tracked.has(from) && git(root, ['mv', '--', from, to]) !== undefined)) renameSync(join(root, from), join(root, to))
    removeEmptyDirs(root, dirname(from))
  }
}

function removeEmptyDirs(root: string, dir: string): void {
  for (let d = dir; d !== '.' && d !== ''; d = dirname(d)) {
    const path = join(root, d)
    if (!existsSync(path) || !statSync(path).isDirectory() || readdirSync(path).length > 0) return
    rmdirSync(path)
  }
}

const USAGE = 'usage: npm run init -- <name> [--strip-example]'

if (import.meta.main) {
  const args = process.argv.slice(2)
  const flags = args.filter((a) => a.startsWith('-'))
  const names = args.filter((a) => !a.startsWith('-'))
  try {
    const unknown = flags.find((f) => f !== '--strip-example')
    if (unknown !== undefined) throw new UsageError(`unknown option ${unknown}; ${USAGE}`)
    if (names.length !== 1) throw new UsageError(USAGE)
    const root = git(process.cwd(), ['rev-parse', '--show-toplevel']) ?? process.cwd()
    const result = init({ root, name: names[0]!, stripExample: flags.includes('--strip-example') })
    const did = [result.renamed && `renamed to ${names[0]}`, result.stripped && 'example stripped'].filter(Boolean).join(', ')
    process.stdout.write(`${did || 'nothing to do'}: ${result.files} files, ${result.lines} lines changed. Next: npm test; see docs/template.md\n`)
  } catch (err) {
    process.stderr.write(`init: ${err instanceof Error ? err.message : String(err)}\n`)
    process.exit(err instanceof UsageError ? 2 : 1)
  }
}
