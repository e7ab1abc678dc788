// Timeline pictures of a scenario, as dependency-free SVG: per second, the load client's
// requests (ok / failed) and their p99 latency; per pod, its state (pending, starting, running but not ready,
// ready, terminating), whether it is in the Service's endpoints, and the kubelet's probe
// failures. The data behind a picture is plain JSON, written next to it.
import type { Tick } from './load.js'
import type { Recorder } from './watch.js'

export type PodState = '' | 'pending' | 'starting' | 'unready' | 'ready' | 'terminating' | 'exited'
export type ProbeKind = 'startup' | 'readiness' | 'liveness'

/** One second of the load: requests, and their latency (ms; null in a second without any). */
export interface Second {
  ok: number
  failed: number
  p50: number | null
  p99: number | null
  max: number | null
}

export interface TimelineData {
  title: string
  from: number
  seconds: Second[]
  pods: { name: string; component: string; states: PodState[]; inEndpoints: boolean[]; restarts: number[]; probes: { s: number; kind: ProbeKind; n: number }[] }[]
  markers: { s: number; label: string }[]
}

export interface Marker {
  t: number
  label: string
}

const probeKind = (message: string): ProbeKind | undefined =>
  message.startsWith('Startup probe') ? 'startup' : message.startsWith('Readiness probe') ? 'readiness' : message.startsWith('Liveness probe') ? 'liveness' : undefined

/** Samples the recorder and the client's ticks once per second between `from` and `to`. */
export function timelineData(
  title: string,
  rec: Recorder,
  from: number,
  to: number,
  ticks: Tick[],
  markers: Marker[],
  components: string[] = ['server'],
): TimelineData {
  const n = Math.max(1, Math.ceil((to - from) / 1000))
  const seconds = Array.from({ length: n }, (): Second => ({ ok: 0, failed: 0, p50: null, p99: null, max: null }))
  // Two ticks in one slot (the client's last, printed at its stop) keep the higher latency.
  const higher = (a: number | null, b: number | null | undefined) => (a === null ? (b ?? null) : b == null ? a : Math.max(a, b))
  for (const tick of ticks) {
    // A tick at t counts the second that ended at t.
    const i = Math.floor((tick.t - 1 - from) / 1000)
    const slot = seconds[i]
    if (slot) {
      slot.ok += tick.ok
      slot.failed += tick.failed
      slot.p50 = higher(slot.p50, tick.latency.p50)
      slot.p99 = higher(slot.p99, tick.latency.p99)
      slot.max = higher(slot.max, tick.latency.max)
    }
  }
  const pods: TimelineData['pods'] = []
  for (const [name, entry] of rec.pods) {
    const first = entry.samples[0]
    if (!first || !components.includes(first.component)) continue
    if (entry.created > to || (entry.gone !== undefined && entry.gone < from)) continue
    const states: PodState[] = []
    const inEndpoints: boolean[] = []
    const restarts: number[] = []
    const eps = rec.endpoints.get(name) ?? []
    let prevRestarts = first.restarts
    for (let i = 0; i < n; i++) {
      const end = from + (i + 1) * 1000
      const s = entry.samples.filter((x) => x.t <= end).at(-1)
      const gone = entry.gone !== undefined && entry.gone <= end
      let state: PodState = ''
      if (s && !gone && entry.created <= end) {
        if (s.deleting) state = 'terminating'
        else if (s.phase === 'Pending') state = 'pending'
        else if (s.phase !== 'Running') state = 'exited'
        else if (!s.started) state = 'starting'
        else state = s.ready ? 'ready' : 'unready'
      }
      states.push(state)
      inEndpoints.push(!gone && (eps.filter((x) => x.t <= end).at(-1)?.ready ?? false))
      const r = s?.restarts ?? prevRestarts
      if (r > prevRestarts) restarts.push(i)
      prevRestarts = r
    }
    const probes: TimelineData['pods'][number]['probes'] = []
    for (const ev of rec.probeEvents) {
      const kind = probeKind(ev.message)
      const s = Math.floor((ev.t - from) / 1000)
      if (ev.pod === name && kind && s >= 0 && s < n) probes.push({ s, kind, n: ev.occurrences })
    }
    pods.push({ name, component: first.component, states, inEndpoints, restarts, probes })
  }
  pods.sort((a, b) => (rec.pods.get(a.name)?.created ?? 0) - (rec.pods.get(b.name)?.created ?? 0) || a.name.localeCompare(b.name))
  return {
    title,
    from,
    seconds,
    pods,
    markers: markers.filter((m) => m.t >= from && m.t <= to).map((m) => ({ s: (m.t - from) / 1000, label: m.label })),
  }
}

/**
 * What the app's pods were doing in the second that ended at `t`: how many in each state, and
 * how many joined the endpoints in the 3 s before (to tell a slow second at a pod's start, its
 * first traffic or its termination apart).
 */
export function podsAt(d: TimelineData, t: number): string {
  const i = Math.floor((t - 1 - d.from) / 1000)
  const states = new Map<string, number>()
  let joined = 0
  for (const p of d.pods) {
    const st = p.states[i]
    if (st) states.set(st, (states.get(st) ?? 0) + 1)
    if (p.inEndpoints[i] && [1, 2, 3].some((k) => i - k >= 0 && !p.inEndpoints[i - k] && p.states[i - k])) joined++
  }
  return [...[...states].map(([st, n]) => `${n} ${st}`), ...(joined ? [`${joined} joined the endpoints in the 3 s before`] : [])].join(', ')
}

const STATE_COLOR: Record<Exclude<PodState, ''>, string> = {
  pending: '#c8c8c8',
  starting: '#f2c94c',
  unready: '#f2994a',
  ready: '#27ae60',
  terminating: '#9b51e0',
  exited: '#555555',
}
const PROBE_COLOR: Record<ProbeKind, string> = { startup: '#e6a100', readiness: '#d62728', liveness: '#000000' }

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;')

export function timelineSvg(d: TimelineData): string {
  const n = d.seconds.length
  const px = Math.max(2, Math.min(10, Math.floor(1100 / n)))
  const left = 290
  const width = left + n * px + 20
  // Scenarios without a load client (gating, liveness) get no request chart.
  const hasLoad = d.seconds.some((s) => s.ok + s.failed > 0)
  const chartTop = 90
  const chartH = hasLoad ? 110 : 0
  const latTop = chartTop + chartH + 14
  const latH = hasLoad ? 70 : 0
  const lane = 18
  const lanesTop = (hasLoad ? latTop + latH : chartTop) + 26
  const height = lanesTop + d.pods.length * lane + 90
  const x = (s: number) => left + s * px
  const out: string[] = []
  out.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="Helvetica, Arial, sans-serif" font-size="11">`,
    `<rect width="100%" height="100%" fill="#ffffff"/>`,
    `<text x="10" y="20" font-size="14" font-weight="bold">${esc(d.title)}</text>`,
  )
  const total = d.seconds.reduce((a, s) => ({ ok: a.ok + s.ok, failed: a.failed + s.failed }), { ok: 0, failed: 0 })
  out.push(
    `<text x="10" y="38" fill="#333">${hasLoad ? `${total.ok + total.failed} requests, ${total.failed} failed, ` : ''}over ${n} s (one column per second)</text>`,
  )

  // Requests per second: ok (green) with failed (red) stacked on top, plus a red mark above
  // any second with a failure so that a single failed request is visible at any scale.
  const max = Math.max(1, ...d.seconds.map((s) => s.ok + s.failed))
  const y = (v: number) => chartTop + chartH - (v / max) * chartH
  if (hasLoad) out.push(`<text x="${left - 8}" y="${chartTop + 4}" text-anchor="end">${max} req/s</text>`, `<text x="${left - 8}" y="${chartTop + chartH}" text-anchor="end">0</text>`)
  if (hasLoad) {
    out.push(`<text x="10" y="${chartTop + chartH / 2}" font-weight="bold">requests per second</text>`)
    out.push(`<line x1="${left}" y1="${chartTop + chartH}" x2="${x(n)}" y2="${chartTop + chartH}" stroke="#999"/>`)
  }
  d.seconds.forEach((s, i) => {
    if (s.ok > 0) out.push(`<rect x="${x(i)}" y="${y(s.ok)}" width="${Math.max(1, px - 1)}" height="${chartTop + chartH - y(s.ok)}" fill="#27ae60"/>`)
    if (s.failed > 0) {
      const h = Math.max(2, (s.failed / max) * chartH)
      out.push(`<rect x="${x(i)}" y="${y(s.ok) - h}" width="${Math.max(1, px - 1)}" height="${h}" fill="#d62728"><title>${s.failed} failed</title></rect>`)
      out.push(`<path d="M ${x(i) + px / 2 - 4} ${chartTop - 10} l 8 0 l -4 7 z" fill="#d62728"><title>+${i} s: ${s.failed} failed</title></path>`)
    }
  })

  // p99 latency per second: a line (gaps where a second had no request), its highest second
  // labelled on the axis.
  if (hasLoad) {
    const p99s = d.seconds.map((s) => s.p99)
    const top = Math.max(1, ...p99s.map((v) => v ?? 0))
    const ly = (v: number) => latTop + latH - (v / top) * latH
    out.push(
      `<text x="10" y="${latTop + latH / 2}" font-weight="bold">p99 latency per second</text>`,
      `<text x="${left - 8}" y="${latTop + 4}" text-anchor="end">${top} ms</text>`,
      `<text x="${left - 8}" y="${latTop + latH}" text-anchor="end">0</text>`,
      `<line x1="${left}" y1="${latTop + latH}" x2="${x(n)}" y2="${latTop + latH}" stroke="#999"/>`,
    )
    let path = ''
    p99s.forEach((v, i) => {
      if (v === null) return
      path += `${path && p99s[i - 1] != null ? 'L' : 'M'} ${x(i) + px / 2} ${ly(v).toFixed(1)} `
    })
    if (path) out.push(`<path d="${path.trim()}" fill="none" stroke="#1f3a93" stroke-width="1.5"/>`)
    const worst = p99s.indexOf(top)
    if (worst >= 0) out.push(`<circle cx="${x(worst) + px / 2}" cy="${ly(top)}" r="3" fill="#1f3a93"><title>+${worst} s: p99 ${top} ms, max ${d.seconds[worst]?.max} ms</title></circle>`)
  }

  // Scenario markers: dashed lines through the whole picture, labels staggered on 3 rows,
  // right-aligned to their line when they would run off the picture.
  d.markers.forEach((m, i) => {
    const mx = x(m.s)
    const end = mx + 2 + m.label.length * 5.5 > width
    out.push(`<line x1="${mx}" y1="${chartTop - 14 - (i % 3) * 11}" x2="${mx}" y2="${lanesTop + d.pods.length * lane}" stroke="#555" stroke-dasharray="3,3"/>`)
    out.push(
      `<text x="${end ? mx - 2 : mx + 2}" y="${chartTop - 16 - (i % 3) * 11}" fill="#333" font-size="10"${end ? ' text-anchor="end"' : ''}>${esc(m.label)}</text>`,
    )
  })

  // Pod lanes.
  out.push(`<text x="10" y="${lanesTop - 8}" font-weight="bold">pods (state; blue line: in the Service's endpoints)</text>`)
  d.pods.forEach((p, j) => {
    const top = lanesTop + j * lane
    out.push(`<text x="${left - 8}" y="${top + 10}" text-anchor="end" font-family="monospace" font-size="10">${esc(p.name)}</text>`)
    let i = 0
    while (i < n) {
      const st = p.states[i] ?? ''
      let k = i
      while (k < n && p.states[k] === st) k++
      if (st) out.push(`<rect x="${x(i)}" y="${top + 1}" width="${(k - i) * px}" height="10" fill="${STATE_COLOR[st]}"><title>${st}, +${i}..${k} s</title></rect>`)
      i = k
    }
    i = 0
    while (i < n) {
      let k = i
      while (k < n && p.inEndpoints[k] === p.inEndpoints[i]) k++
      if (p.inEndpoints[i]) out.push(`<rect x="${x(i)}" y="${top + 12}" width="${(k - i) * px}" height="3" fill="#1f77b4"/>`)
      i = k
    }
    for (const s of p.restarts) out.push(`<text x="${x(s)}" y="${top + 10}" font-weight="bold" fill="#000">&#x21bb;<title>container restarted</title></text>`)
    for (const pr of p.probes) {
      out.push(`<rect x="${x(pr.s) + px / 2 - 1}" y="${top - 1}" width="2" height="13" fill="${PROBE_COLOR[pr.kind]}"><title>${pr.kind} probe failed (${pr.n})</title></rect>`)
    }
  })

  // Time axis.
  const axisY = lanesTop + d.pods.length * lane + 6
  const step = n > 300 ? 60 : n > 120 ? 30 : 10
  for (let s = 0; s <= n; s += step) {
    out.push(`<line x1="${x(s)}" y1="${axisY}" x2="${x(s)}" y2="${axisY + 4}" stroke="#333"/>`, `<text x="${x(s)}" y="${axisY + 15}" text-anchor="middle">${s} s</text>`)
  }

  // Legend.
  let lx = 10
  let ly = axisY + 36
  const legend: [string, string][] = [
    ['#27ae60', 'ok / ready'],
    ['#d62728', 'failed request / readiness probe failed'],
    ['#000000', 'liveness probe failed'],
    ['#e6a100', 'startup probe failed'],
    ['#c8c8c8', 'pending'],
    ['#f2c94c', 'starting'],
    ['#f2994a', 'running, not ready'],
    ['#9b51e0', 'terminating'],
    ['#1f77b4', 'in endpoints'],
    ...(hasLoad ? ([['#1f3a93', 'p99 latency']] as [string, string][]) : []),
  ]
  for (const [color, label] of legend) {
    if (lx + 24 + label.length * 6 > width) {
      lx = 10
      ly += 18
    }
    out.push(`<rect x="${lx}" y="${ly - 9}" width="10" height="10" fill="${color}"/>`, `<text x="${lx + 14}" y="${ly}">${esc(label)}</text>`)
    lx += 24 + label.length * 6
  }
  out.push('</svg>')
  return out.join('\n')
}
