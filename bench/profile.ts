// Where a server's CPU time goes under the bench's load: the top frames of the V8 CPU
// profiles that `BENCH_CPU_PROF=<dir> npm run bench` makes (one per server process, in
// <dir>/<case id>/ and <dir>/reference-of-<case id>/). Usage:
// node bench/profile.ts <dir> [case id] [top N, 25]
//
// Only the samples from the first request on count: the server's start (module loading,
// compiling) is not what a request costs. Idle time is left out, so a frame's share is of
// the time the process was busy; the share times the run's CPU µs per request (the
// bench's table) gives µs per request. "self": the frame's own code; "total": with what it
// calls. Frames are named by function, file (node_modules/ shortened to nm/) and line.
import { readdirSync, readFileSync, statSync } from 'node:fs'
import { join } from 'node:path'

interface ProfileNode {
  id: number
  callFrame: { functionName: string; url: string; lineNumber: number }
  children?: number[]
}
interface Profile {
  nodes: ProfileNode[]
  samples: number[]
  timeDeltas: number[]
}

// The request's first frame in Node's HTTP server: samples before it are the start.
const FIRST_REQUEST = 'parserOnIncoming'
const NOT_WORK = new Set(['(idle)', '(root)'])

function frameName(node: ProfileNode): string {
  const { functionName, url, lineNumber } = node.callFrame
  const file = url.replace(/^.*node_modules\//, 'nm/').replace(/^file:\/\/.*?\/(dist|src|bench|test)\//, '$1/')
  return `${functionName || '(anonymous)'} ${file}${file ? `:${lineNumber + 1}` : ''}`
}

export function topFrames(profile: Profile, top: number) {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]))
  const parent = new Map<number, number>()
  for (const n of profile.nodes) for (const child of n.children ?? []) parent.set(child, n.id)
  const stack = (id: number) => {
    const names: string[] = []
    for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) names.push(frameName(byId.get(cur)!))
    return names
  }
  const self = new Map<string, number>()
  const total = new Map<string, number>()
  let busy = 0
  let started = false
  for (const id of profile.samples) {
    const names = stack(id)
    started ||= names.some((name) => name.startsWith(`${FIRST_REQUEST} `))
    if (!started || NOT_WORK.has(names[0]!.split(' ')[0]!)) continue
    busy++
    self.set(names[0]!, (self.get(names[0]!) ?? 0) + 1)
    for (const name of new Set(names)) if (!NOT_WORK.has(name.split(' ')[0]!)) total.set(name, (total.get(name) ?? 0) + 1)
  }
  const rank = (m: Map<string, number>) =>
    [...m]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([frame, n]) => ({ frame, share: n / Math.max(1, busy) }))
  return { busySamples: busy, self: rank(self), total: rank(total) }
}

function newest(dir: string): string {
  const files = readdirSync(dir)
    .filter((f) => f.endsWith('.cpuprofile'))
    .map((f) => join(dir, f))
  if (files.length === 0) throw new Error(`no .cpuprofile in ${dir}`)
  return files.sort((a, b) => statSync(b).mtimeMs - statSync(a).mtimeMs)[0]!
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const [dir, only, n] = process.argv.slice(2)
  if (!dir) {
    console.error('usage: node bench/profile.ts <BENCH_CPU_PROF dir> [case id] [top N]')
    process.exit(2)
  }
  const targets = only ? [only] : readdirSync(dir).filter((t) => statSync(join(dir, t)).isDirectory())
  for (const target of targets) {
    const file = newest(join(dir, target))
    const { busySamples, self, total } = topFrames(JSON.parse(readFileSync(file, 'utf8')) as Profile, Number(n ?? 25))
    console.log(`\n## ${target}: ${busySamples} busy samples after the first request (${file})`)
    for (const [title, rows] of [
      ['self', self],
      ['total', total],
    ] as const) {
      console.log(`\n| ${title} | frame |\n|--:|---|`)
      for (const { frame, share } of rows) console.log(`| ${(share * 100).toFixed(1)} % | \`${frame}\` |`)
    }
  }
}
