// Reads samples out of a Prometheus text exposition (the metrics tests' scrapes), and
// runs promtool (Prometheus' own checker) on it.
import { execFile } from 'node:child_process'
import { findTool, promtoolTool } from './tools.js'

export interface Sample {
  name: string
  labels: Record<string, string>
  value: number
}

const LINE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)(?: \d+)?$/
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g

/** Every sample of the metric `name` (a histogram's `_bucket`, `_sum`, `_count` are names of their own). */
export function samples(text: string, name: string): Sample[] {
  const out: Sample[] = []
  for (const line of text.split('\n')) {
    if (line.startsWith('#')) continue
    const m = LINE.exec(line)
    if (!m || m[1] !== name) continue
    const labels: Record<string, string> = {}
    for (const [, key, value] of (m[2] ?? '').matchAll(LABEL)) labels[key!] = value!.replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c))
    out.push({ name, labels, value: m[3] === '+Inf' ? Infinity : Number(m[3]) })
  }
  return out
}

/** The value of the one sample of `name` whose labels include `labels`; undefined when there is none. */
export function sample(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  const found = samples(text, name).filter((s) => Object.entries(labels).every(([k, v]) => s.labels[k] === v))
  if (found.length > 1) throw new Error(`${name}${JSON.stringify(labels)} matches ${found.length} samples`)
  return found[0]?.value
}

/** Runs promtool with `input` on stdin; fails (never skips) when promtool is missing. */
export function promtool(args: string[], input = ''): Promise<{ code: number; output: string }> {
  const bin = findTool(promtoolTool)
  return new Promise((resolve) => {
    const child = execFile(bin, args, { timeout: 30_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? Number(err.code ?? 1) : 0, output: `${stdout}${stderr}`.trim() })
    })
    // A check that does not read its stdin (a file argument) may exit before the input is
    // written: EPIPE then says nothing about the check, whose exit code and output are the answer.
    child.stdin?.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code !== 'EPIPE') resolve({ code: 1, output: `writing promtool's input failed: ${err.message}` })
    })
    child.stdin?.end(input)
  })
}
