// Every relative link and anchor in the README, docs/*.md and the chart's README points
// somewhere: a file or directory of the repository and, after '#', a heading of that file
// (GitHub's anchors). External links are not fetched. Dependency-free.
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs'
import { dirname, join, relative, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'

const repoRoot = resolve(fileURLToPath(new URL('.', import.meta.url)), '..', '..')
const docs = join(repoRoot, 'docs')
const files = [
  join(repoRoot, 'README.md'),
  ...readdirSync(docs)
    .filter((f) => f.endsWith('.md'))
    .map((f) => join(docs, f)),
  join(repoRoot, 'helm', 'service-template', 'README.md'),
]

/** The text outside fenced code blocks and inline code, where links and headings count. */
function prose(markdown: string): string[] {
  const lines: string[] = []
  let fence: string | undefined
  for (const line of markdown.split('\n')) {
    const m = /^\s*(```|~~~)/.exec(line)
    if (m) {
      if (fence === undefined) fence = m[1]
      else if (m[1] === fence) fence = undefined
      lines.push('')
      continue
    }
    // Indented code blocks (4 spaces after a blank line) hold commands, not links.
    lines.push(fence !== undefined || /^ {4}/.test(line) ? '' : line.replace(/`[^`]*`/g, '``'))
  }
  return lines
}

/** GitHub's anchor for a heading: lower case, punctuation dropped, spaces to dashes, -N for repeats. */
function anchors(markdown: string): Set<string> {
  const seen = new Map<string, number>()
  const out = new Set<string>()
  let fence = false
  for (const line of markdown.split('\n')) {
    if (/^\s*(```|~~~)/.test(line)) fence = !fence
    const m = fence ? null : /^#{1,6}\s+(.*?)\s*#*\s*$/.exec(line)
    if (!m) continue
    const base = m[1]!
      .replace(/<[^>]+>/g, '')
      .replace(/\[([^\]]*)\]\([^)]*\)/g, '$1')
      .toLowerCase()
      .replace(/[^\p{L}\p{N}\p{M} _-]/gu, '')
      .replace(/ /g, '-')
    const n = seen.get(base) ?? 0
    seen.set(base, n + 1)
    out.add(n === 0 ? base : `${base}-${n}`)
  }
  return out
}

interface Link {
  file: string
  line: number
  target: string
}

function links(file: string): Link[] {
  const out: Link[] = []
  prose(readFileSync(file, 'utf8')).forEach((text, i) => {
    for (const m of text.matchAll(/!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g)) out.push({ file, line: i + 1, target: m[1]! })
  })
  return out
}

/** Why the link points nowhere, or undefined when it points somewhere. */
function broken({ file, target }: Link): string | undefined {
  if (/^[a-z][a-z0-9+.-]*:/i.test(target)) return undefined // https:, mailto:: not fetched
  const [path = '', anchor] = target.split('#', 2)
  const resolved = path === '' ? file : resolve(dirname(file), decodeURIComponent(path))
  if (!resolved.startsWith(repoRoot + '/') && resolved !== repoRoot) return 'outside the repository'
  if (!existsSync(resolved)) return 'no such file'
  if (anchor === undefined || anchor === '') return undefined
  if (statSync(resolved).isDirectory() || !resolved.endsWith('.md')) return 'an anchor into a file that is not markdown'
  return anchors(readFileSync(resolved, 'utf8')).has(decodeURIComponent(anchor).toLowerCase()) ? undefined : `no heading #${anchor}`
}

describe('documentation links', () => {
  it('finds the files and their links', () => {
    for (const f of files) expect(existsSync(f), relative(repoRoot, f)).toBe(true)
    expect(files.flatMap(links).length).toBeGreaterThan(30)
  })

  it.each(files.map((f) => [relative(repoRoot, f), f]))('every relative link and anchor in %s points somewhere', (_name, file) => {
    const bad = links(file).flatMap((l) => {
      const why = broken(l)
      return why ? [`${relative(repoRoot, l.file)}:${l.line}: ${l.target}: ${why}`] : []
    })
    expect(bad).toEqual([])
  })

  it("computes GitHub's anchors", () => {
    const md = '# Testing on a cluster\n## Probes: why each number is what it is\n### Chart tests (`test/chart`, part of `npm test`)\n## Metrics\n## Metrics\n'
    expect([...anchors(md)]).toEqual([
      'testing-on-a-cluster',
      'probes-why-each-number-is-what-it-is',
      'chart-tests-testchart-part-of-npm-test',
      'metrics',
      'metrics-1',
    ])
  })
})
