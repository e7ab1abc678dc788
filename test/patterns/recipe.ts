// docs/copying-patterns.md as data: per pattern, the files to copy, the npm packages they
// need, and the wiring files to write. The page is the one source: the test copies what
// it says, so the recipe and the proof cannot disagree.
import { readFileSync } from 'node:fs'
import { posix } from 'node:path'
import { fileURLToPath } from 'node:url'

export const repoRoot = fileURLToPath(new URL('../..', import.meta.url))
export const recipePath = 'docs/copying-patterns.md'

export interface Pattern {
  id: string
  /** Template files (relative to the repository) and where they go in the app. */
  files: Array<{ from: string; to: string }>
  /** npm packages the files need besides the app's own. */
  npm: string[]
  /** Files of the app written (or replaced) as the page shows them. */
  wiring: Array<{ file: string; code: string }>
}

// A fenced block whose info string carries pattern=<id> (and file=<path> for wiring).
const FENCE = /^```(\S+)([^\n]*)\n([\s\S]*?)^```$/gm

export function readRecipe(markdown = readFileSync(`${repoRoot}${recipePath}`, 'utf8')): Map<string, Pattern> {
  const patterns = new Map<string, Pattern>()
  const get = (id: string) => {
    let p = patterns.get(id)
    if (!p) patterns.set(id, (p = { id, files: [], npm: [], wiring: [] }))
    return p
  }
  for (const [, lang, info, body] of markdown.matchAll(FENCE)) {
    const attrs = Object.fromEntries([...info!.matchAll(/(\w+)=(\S+)/g)].map(([, k, v]) => [k!, v!]))
    if (!attrs.pattern) continue
    const pattern = get(attrs.pattern)
    if (attrs.file) {
      pattern.wiring.push({ file: attrs.file, code: body! })
    } else if (lang === 'text') {
      for (const line of body!.split('\n').map((l) => l.trim())) {
        if (line === '') continue
        const npm = /^npm:\s*(.*)$/.exec(line)
        if (npm) pattern.npm.push(...npm[1]!.split(/\s+/).filter((name) => name !== '' && name !== '(none)'))
        else {
          const [from, to = from] = line.split(/\s*->\s*/)
          pattern.files.push({ from: from!, to: to! })
        }
      }
    } else throw new Error(`${recipePath}: a pattern=${attrs.pattern} block that is neither a file list (text) nor a wiring file (file=)`)
  }
  return patterns
}

/**
 * The listed files that nothing reaches: neither the wiring nor another listed file imports
 * them (relative imports, followed from the wiring). The list must be exactly what is needed.
 */
export function unreachedFiles(pattern: Pattern, read: (from: string) => string): string[] {
  const byPath = new Map(pattern.files.map((f) => [f.to, f.from]))
  const seen = new Set<string>()
  const visit = (path: string, code: string) => {
    for (const [, spec] of code.matchAll(/(?:from|import)\s*\(?\s*'(\.{1,2}\/[^']+)\.js'/g)) {
      const target = posix.join(posix.dirname(path), `${spec}.ts`)
      const from = byPath.get(target)
      if (from === undefined || seen.has(target)) continue
      seen.add(target)
      visit(target, read(from))
    }
  }
  for (const { file, code } of pattern.wiring) visit(file, code)
  return pattern.files.filter((f) => !seen.has(f.to)).map((f) => f.from)
}
