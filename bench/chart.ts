// The side-by-side chart of a benchmark run, as a dependency-free SVG: one bar per
// server and route (server CPU µs per request, the verdict), req/s and p99 beside it,
// the baseline as a dashed line, each target as a tick on its bar, and the interquartile
// range of the per-round ratios as a whisker (drawn at the CPU of what the case is compared
// with, the baseline or its reference case, times Q1 and Q3).
//   node bench/chart.ts [bench/results.json] [out.svg]   (defaults: results.json, results.svg)
// bench/run.ts calls barChart() after each run; docs/bench-cpu.svg is a published run.
import { readFile, writeFile } from 'node:fs/promises'
import { fileURLToPath } from 'node:url'

export interface ChartRow {
  id: string
  label: string
  path: string
  cpu: number
  ratio: number
  /** Interquartile range of the per-round ratios to the baseline (or the case it is compared with). */
  q1?: number
  q3?: number
  rps: number
  p99: number
  limit?: number
  /** The CPU per request its ratio is to: the baseline's unless it is compared with another case. */
  referenceCpu?: number
  pass?: boolean
}

export interface ChartInput {
  generated: string
  node: string
  cpus: number
  /** How the cores were shared (bench/run.ts); older results files have none. */
  pinningNote?: string
  baseline: string
  rows: ChartRow[]
  settings: { connections: number; rounds: number; duration: number; pairing?: 'simultaneous' | 'sequential'; pairedConnections?: number }
}

// Results written before BENCH_PAIRING existed ran one after the other.
const load = ({ connections, pairing, pairedConnections }: ChartInput['settings']) =>
  pairing === 'simultaneous' ? `each case at the same time as its baseline, ${pairedConnections} + ${pairedConnections} connections` : `${connections} connections`
const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;')
const num = (n: number, digits = 0) => n.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits })

export function barChart(input: ChartInput): string {
  const { rows } = input
  const base = rows.find((r) => r.id === input.baseline)
  const W = 980
  const LABEL = 280
  const BAR = 330
  const ROW = 30
  const TOP = 64
  const height = TOP + rows.length * ROW + 56
  const ref = (r: ChartRow) => r.referenceCpu ?? base?.cpu ?? 0
  const max = Math.max(...rows.map((r) => Math.max(r.cpu, r.limit ? ref(r) * r.limit : 0, r.q3 !== undefined && r.id !== input.baseline ? ref(r) * r.q3 : 0))) * 1.08
  const x = (v: number) => LABEL + (v / max) * BAR
  const colour = (r: ChartRow) =>
    r.id === input.baseline ? '#4b5563' : r.pass === false ? '#dc2626' : r.limit !== undefined ? '#16a34a' : r.id.startsWith('fastify') ? '#9ca3af' : '#3b82f6'
  const out: string[] = []
  out.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${height}" viewBox="0 0 ${W} ${height}" font-family="system-ui, -apple-system, Segoe UI, sans-serif" font-size="13">`,
    `<rect width="${W}" height="${height}" fill="#ffffff"/>`,
    `<text x="16" y="26" font-size="16" font-weight="600">Server CPU per request (lower is better), ${load(input.settings)}, median of ${input.settings.rounds} rounds</text>`,
    `<text x="16" y="46" fill="#4b5563">${esc(`${input.generated.slice(0, 16).replace('T', ' ')} UTC, Node ${input.node}, ${input.cpus} CPUs; ${input.pinningNote?.startsWith('pinned') ? ' (server and load generator pinned to separate cores)' : ''}; ratio against bare Fastify + pino; ticks: targets; whiskers: IQR`)}</text>`,
    `<text x="${LABEL + BAR + 16}" y="${TOP - 6}" fill="#4b5563" font-size="12">µs/req · ratio (IQR) · req/s · p99</text>`,
  )
  rows.forEach((r, i) => {
    const y = TOP + i * ROW
    out.push(
      `<text x="${LABEL - 10}" y="${y + 19}" text-anchor="end">${esc(`${r.label} ${r.path}`)}</text>`,
      `<rect x="${LABEL}" y="${y + 6}" width="${Math.max(1, x(r.cpu) - LABEL).toFixed(1)}" height="${ROW - 10}" fill="${colour(r)}" rx="2"/>`,
      `<text x="${LABEL + BAR + 16}" y="${y + 19}">${esc(`${num(r.cpu, 1)} · ${num(r.ratio, 2)}x${r.q1 !== undefined && r.q3 !== undefined && r.id !== input.baseline ? ` (${num(r.q1, 2)}-${num(r.q3, 2)})` : ''} · ${num(r.rps)} · ${num(r.p99, 2)} ms`)}${r.pass === undefined ? '' : r.pass ? ' ✓' : ' ✗'}</text>`,
    )
    if (base && r.q1 !== undefined && r.q3 !== undefined && r.id !== input.baseline) {
      const [x1, x3, mid] = [x(ref(r) * r.q1).toFixed(1), x(ref(r) * r.q3).toFixed(1), y + ROW / 2]
      out.push(
        `<line x1="${x1}" x2="${x3}" y1="${mid}" y2="${mid}" stroke="#111827" stroke-width="1.5"/>`,
        `<line x1="${x1}" x2="${x1}" y1="${mid - 4}" y2="${mid + 4}" stroke="#111827"/>`,
        `<line x1="${x3}" x2="${x3}" y1="${mid - 4}" y2="${mid + 4}" stroke="#111827"/>`,
      )
    }
    if (base && r.limit !== undefined) {
      const tx = x(ref(r) * r.limit).toFixed(1)
      out.push(`<line x1="${tx}" x2="${tx}" y1="${y + 2}" y2="${y + ROW - 2}" stroke="#111827" stroke-width="2"/>`)
    }
  })
  if (base) {
    const bx = x(base.cpu).toFixed(1)
    out.push(`<line x1="${bx}" x2="${bx}" y1="${TOP}" y2="${TOP + rows.length * ROW}" stroke="#4b5563" stroke-dasharray="4 3"/>`)
  }
  // Axis with a few round ticks.
  const axisY = TOP + rows.length * ROW + 8
  out.push(`<line x1="${LABEL}" x2="${LABEL + BAR}" y1="${axisY}" y2="${axisY}" stroke="#9ca3af"/>`)
  const step = max > 40 ? 10 : 5
  for (let v = 0; v <= max; v += step) {
    out.push(`<text x="${x(v).toFixed(1)}" y="${axisY + 16}" text-anchor="middle" fill="#4b5563" font-size="11">${v}</text>`)
  }
  out.push(`<text x="${LABEL + BAR / 2}" y="${axisY + 34}" text-anchor="middle" fill="#4b5563" font-size="12">server CPU µs per request</text>`, '</svg>', '')
  return out.join('\n')
}

// Run directly: redraw a chart from a results file.
if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const input = process.argv[2] ?? fileURLToPath(new URL('./results.json', import.meta.url))
  const output = process.argv[3] ?? fileURLToPath(new URL('./results.svg', import.meta.url))
  await writeFile(output, barChart(JSON.parse(await readFile(input, 'utf8')) as ChartInput))
  console.error(`chart written to ${output}`)
}
