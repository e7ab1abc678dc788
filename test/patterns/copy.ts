// A temporary copy of test/patterns/foreign-app with one pattern copied in as the recipe
// says: its files, its wiring, and a node_modules holding only the app's own packages and
// the ones the recipe names (links into the repository's), so a file that needs anything
// the recipe does not name fails to compile or to run.
import { execFile } from 'node:child_process'
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import type { Pattern } from './recipe.js'
import { repoRoot } from './recipe.js'

const foreignApp = join(repoRoot, 'test/patterns/foreign-app')

export interface Copy {
  dir: string
  /** The built entry point (dist/server.js). */
  entry: string
  remove(): void
}

export function copyPattern(pattern: Pattern): Copy {
  const dir = mkdtempSync(join(tmpdir(), `pattern-${pattern.id}-`))
  cpSync(foreignApp, dir, { recursive: true, filter: (src) => !/[/\\](dist|node_modules)$/.test(src) })
  const write = (file: string, text: string) => {
    mkdirSync(dirname(join(dir, file)), { recursive: true })
    writeFileSync(join(dir, file), text)
  }
  for (const { from, to } of pattern.files) write(to, readFileSync(join(repoRoot, from), 'utf8'))
  for (const { file, code } of pattern.wiring) write(file, code)
  const app = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { dependencies?: object; devDependencies?: object }
  const packages = new Set([...Object.keys(app.dependencies ?? {}), ...Object.keys(app.devDependencies ?? {}), ...pattern.npm])
  for (const name of packages) {
    mkdirSync(dirname(join(dir, 'node_modules', name)), { recursive: true })
    symlinkSync(join(repoRoot, 'node_modules', name), join(dir, 'node_modules', name), 'dir')
  }
  return { dir, entry: join(dir, 'dist/server.js'), remove: () => rmSync(dir, { recursive: true, force: true }) }
}

/** tsc with the app's own tsconfig (type-check and build); its output on failure. */
export function compile(copy: Copy): Promise<{ code: number; output: string }> {
  const tsc = join(copy.dir, 'node_modules/typescript/bin/tsc')
  return new Promise((resolve) => {
    execFile(process.execPath, [tsc, '-p', copy.dir], { cwd: copy.dir, timeout: 240_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, output: stdout + stderr })
    })
  })
}
