// Reads samples out of a Prometheus text exposition (the metrics tests' scrapes), and
// runs promtool (Prometheus' own checker) on it.
import { execFile } from 'node:child_process'

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
  return new Promise((resolve, reject) => {
    const child = execFile('promtool', args, { timeout: 30_000 }, (err, stdout, stderr) => {
      if (err && (err as NodeJS.ErrnoException).code === 'ENOENT') {
        reject(new Error("promtool is not on PATH: ../shared/ci/workstation.sh installs it (source its env output), or install Prometheus' promtool"))
        return
      }
      resolve({ code: err ? Number(err.code ?? 1) : 0, output: `${stdout}${stderr}`.trim() })
    })
    child.stdin?.end(input)
  })
}
