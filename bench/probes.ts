// npm run bench: what do the probes cost?
//  1. Throughput and p99 latency of /health and /ready next to a bare Fastify route
//     served by the same process in the same run (bench/server.ts on the built dist/),
//     printed as ratios against targets: /health >= 0.9x bare, /ready >= 0.85x bare.
//  2. How many Postgres queries N concurrent /ready probes cause per cache TTL
//     (target: one), counted at the app's pool.
// Postgres and Redis are real: DATABASE_URL and REDIS_URL when both are set, otherwise
// containers started here (images from test/helpers/images.ts) and removed at the end.
// Not a test: it always exits 0 once it has measured, and prints FAIL for a missed target.
// Results go to stdout and to bench/results.md (overwritten on each run).
import { fork, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { writeFile } from 'node:fs/promises'
import { availableParallelism, cpus, loadavg } from 'node:os'
import { setTimeout as sleep } from 'node:timers/promises'
import { fileURLToPath } from 'node:url'
import autocannon, { type Result } from 'autocannon'

// ---- settings (environment overrides) ---------------------------------------------
function setting(name: string, fallback: number): number {
  const raw = process.env[name]
  if (raw === undefined || raw.trim() === '') return fallback
  const value = Number(raw)
  if (!Number.isFinite(value) || value < 0) throw new Error(`${name}=${raw}: expected a non-negative number`)
  return value
}
const S = {
  /** Seconds per measured run, per route and round. */
  duration: setting('BENCH_DURATION', 5),
  /** Seconds of unmeasured load per route before the first round. */
  warmup: setting('BENCH_WARMUP', 2),
  rounds: Math.max(1, Math.round(setting('BENCH_ROUNDS', 5))),
  connections: Math.max(1, Math.round(setting('BENCH_CONNECTIONS', 10))),
  /** N: concurrent /ready probes in the query count. */
  readyConcurrency: Math.max(1, Math.round(setting('BENCH_READY_CONCURRENCY', 100))),
  /** Seconds of sustained N-concurrent /ready load in the query count. */
  readyDuration: setting('BENCH_READY_DURATION', 5),
  /** The service's readiness cache TTL (its own variable, passed through). */
  ttlMs: setting('READY_CACHE_TTL_MS', 1000),
}
const TARGETS: Record<string, number> = { '/health': 0.9, '/ready': 0.85 }
const ROUTES = ['/bare', '/health', '/ready'] as const
type Route = (typeof ROUTES)[number]

// ---- cleanup: containers and the server child, also on Ctrl-C ---------------------
// Single-flight: a signal and the main flow's `finally` (whose requests fail once the
// server is gone) share one cleanup, and the process exits only after it.
const cleanups: Array<() => Promise<unknown>> = []
let cleaning: Promise<void> | undefined
function cleanup(): Promise<void> {
  cleaning ??= (async () => {
    for (const fn of cleanups.splice(0).reverse()) {
      try {
        await fn()
      } catch (err) {
        console.error('cleanup failed:', err)
      }
    }
  })()
  return cleaning
}
let interrupted: NodeJS.Signals | undefined
// Output piped into a pager or grep that goes away must not crash us before cleanup.
for (const stream of [process.stdout, process.stderr]) stream.on('error', () => {})
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  // `on`, not `once`: testcontainers loads signal-exit, which re-raises a signal (and so
  // kills the process mid-cleanup) when it finds no other listener left.
  process.on(signal, () => {
    if (interrupted) return console.error(`${signal}: still stopping the server and the containers`)
    interrupted = signal
    console.error(`\n${signal}: stopping the server and the containers`)
    void cleanup().finally(() => process.exit(130))
  })
}

// ---- dependencies -----------------------------------------------------------------
interface Deps {
  databaseUrl: string
  redisUrl: string
  description: string
}

async function startDeps(): Promise<Deps> {
  const { DATABASE_URL, REDIS_URL } = process.env
  if (DATABASE_URL && REDIS_URL) {
    return { databaseUrl: DATABASE_URL, redisUrl: REDIS_URL, description: 'DATABASE_URL and REDIS_URL from the environment' }
  }
  // Computed specifiers: Node runs the .ts files directly, while tsc types them from the sources.
  const { images } = (await import(new URL('../test/helpers/images.ts', import.meta.url).href)) as typeof import('../test/helpers/images.js')
  const { PostgreSqlContainer } = await import('@testcontainers/postgresql')
  const { RedisContainer } = await import('@testcontainers/redis')
  log(`starting containers: ${images.postgres}, ${images.redis}`)
  const [pg, redis] = await Promise.allSettled([new PostgreSqlContainer(images.postgres).start(), new RedisContainer(images.redis).start()])
  if (pg.status === 'fulfilled') cleanups.push(() => pg.value.stop())
  if (redis.status === 'fulfilled') cleanups.push(() => redis.value.stop())
  if (pg.status === 'rejected') throw pg.reason
  if (redis.status === 'rejected') throw redis.reason
  return {
    databaseUrl: pg.value.getConnectionUri(),
    redisUrl: `redis://${redis.value.getHost()}:${redis.value.getMappedPort(6379)}`,
    description: `containers ${images.postgres} and ${images.redis} (testcontainers)`,
  }
}

// ---- the server under test ----------------------------------------------------------
const SERVER_ENV = {
  HOST: '127.0.0.1',
  PORT: '0',
  // Both sides at warn: /bare has no logLevel override, the probes have 'warn'; at info
  // the bare route alone would pay for a JSON log line per request.
  LOG_LEVEL: 'warn',
  // under-pressure off: the benchmark saturates the event loop on purpose. With the
  // default thresholds /bare would be shed (503) and /ready report "under pressure"
  // (503), and the runs would measure the rejection path instead of the routes.
  MAX_EVENT_LOOP_UTILIZATION: '0',
  MAX_EVENT_LOOP_DELAY_MS: '0',
  MAX_HEAP_USED_BYTES: '0',
  MAX_RSS_BYTES: '0',
  READY_CACHE_TTL_MS: String(S.ttlMs),
}

async function startServer(deps: Deps): Promise<{ child: ChildProcess; base: string }> {
  const child = fork(fileURLToPath(new URL('./server.ts', import.meta.url)), [], {
    env: { ...process.env, ...SERVER_ENV, DATABASE_URL: deps.databaseUrl, REDIS_URL: deps.redisUrl },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  })
  cleanups.push(() => stopServer(child))
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('bench server not ready within 60 s')), 60_000)
    child.on('message', (msg: { type?: string; port?: number }) => {
      if (msg.type === 'ready' && typeof msg.port === 'number') {
        clearTimeout(timer)
        resolve(msg.port)
      }
    })
    child.once('exit', (code, signal) => {
      clearTimeout(timer)
      reject(new Error(`bench server exited during startup (code ${code}, signal ${signal})`))
    })
  })
  child.on('exit', (code, signal) => {
    if (code !== 0) console.error(`bench server exited (code ${code}, signal ${signal})`)
  })
  return { child, base: `http://127.0.0.1:${port}` }
}

async function stopServer(child: ChildProcess) {
  if (child.exitCode !== null || child.signalCode !== null) return
  const exited = once(child, 'exit')
  child.kill('SIGTERM')
  const timeout = sleep(10_000).then(() => 'timeout' as const)
  if ((await Promise.race([exited, timeout])) === 'timeout') {
    child.kill('SIGKILL')
    await exited
  }
}

interface Stats {
  /** Readiness `SELECT 1` queries that reached the pool. */
  selectOne: number
  /** The server process's user + system CPU time so far. */
  cpuMicros: number
}

async function stats(base: string): Promise<Stats> {
  const res = await fetch(`${base}/bench/stats`)
  return (await res.json()) as Stats
}

// ---- measurements -------------------------------------------------------------------
interface Run {
  rps: number
  p99: number
  requests: number
  bad: number
  /** Server CPU time per request, microseconds. */
  cpu: number
}

async function load(url: string, connections: number, duration: number): Promise<Result> {
  return autocannon({ url, connections, pipelining: 1, duration })
}

async function measure(base: string, route: Route): Promise<Run> {
  const before = await stats(base)
  const result = await load(`${base}${route}`, S.connections, S.duration)
  const after = await stats(base)
  return {
    rps: result.requests.average,
    p99: result.latency.p99,
    requests: result.requests.total,
    bad: result.errors + result.timeouts + result.non2xx,
    cpu: (after.cpuMicros - before.cpuMicros) / Math.max(1, result.requests.total),
  }
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b)
  const mid = sorted.length >> 1
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2
}

function log(line: string) {
  console.error(`[bench] ${line}`)
}

// autocannon records latency in whole milliseconds: 0 means under 1 ms.
const ms = (n: number) => (n < 1 ? '<1' : fmt(n))
const fmt = (n: number, digits = 0) => n.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits })

async function main() {
  const started = new Date()
  const load0 = loadavg()
  const deps = await startDeps()
  log(`dependencies: ${deps.description}`)
  const { base } = await startServer(deps)
  log(`server up at ${base}`)

  const probe = await fetch(`${base}/ready`)
  const probeBody = await probe.text()
  if (probe.status !== 200) throw new Error(`/ready answered ${probe.status} before the benchmark: ${probeBody}`)

  // 1. Throughput: warm up, then rounds with the order rotated, medians over rounds.
  for (const route of ROUTES) {
    log(`warm-up ${route} (${S.warmup} s)`)
    if (S.warmup > 0) await load(`${base}${route}`, S.connections, S.warmup)
  }
  const runs: Record<Route, Run[]> = { '/bare': [], '/health': [], '/ready': [] }
  for (let round = 0; round < S.rounds; round++) {
    const order = ROUTES.map((_, i) => ROUTES[(i + round) % ROUTES.length]!)
    for (const route of order) {
      const run = await measure(base, route)
      runs[route].push(run)
      log(
        `round ${round + 1}/${S.rounds} ${route}: ${fmt(run.rps)} req/s, p99 ${ms(run.p99)} ms, ${run.cpu.toFixed(1)} µs CPU/request${run.bad ? `, ${run.bad} errors/non-2xx` : ''}`,
      )
      await sleep(500)
    }
  }
  const rows = ROUTES.map((route) => {
    const r = runs[route]
    // Ratios per round (each route against the bare run of the same round), then the median.
    const ratio = median(r.map((run, i) => run.rps / runs['/bare'][i]!.rps))
    // Undefined when a p99 is under autocannon's 1 ms resolution in any round.
    const p99Ratio = r.every((run, i) => run.p99 >= 1 && runs['/bare'][i]!.p99 >= 1)
      ? median(r.map((run, i) => run.p99 / runs['/bare'][i]!.p99))
      : undefined
    // Capacity from CPU cost: how many of this route's requests one CPU-second serves,
    // against /bare. Insensitive to other processes competing for the cores.
    const cpuRatio = median(r.map((run, i) => runs['/bare'][i]!.cpu / run.cpu))
    const bad = r.reduce((sum, run) => sum + run.bad, 0)
    const target = TARGETS[route]
    const pass = target === undefined ? undefined : ratio >= target && bad === 0
    return {
      route,
      rps: median(r.map((run) => run.rps)),
      p99: median(r.map((run) => run.p99)),
      cpu: median(r.map((run) => run.cpu)),
      ratio,
      p99Ratio,
      cpuRatio,
      bad,
      target,
      pass,
    }
  })

  // 2. Postgres queries caused by N concurrent /ready probes.
  //    a) one burst of N at once, on an expired cache;
  await sleep(S.ttlMs + 200)
  let before = (await stats(base)).selectOne
  const burst = await Promise.all(
    Array.from({ length: S.readyConcurrency }, async () => {
      const res = await fetch(`${base}/ready`)
      await res.arrayBuffer()
      return res.status
    }),
  )
  const burstQueries = ((await stats(base)).selectOne) - before
  const burstOk = burst.filter((s) => s === 200).length
  //    b) N connections hammering /ready for several TTL windows.
  await sleep(S.ttlMs + 200)
  before = (await stats(base)).selectOne
  const sustained = await load(`${base}/ready`, S.readyConcurrency, S.readyDuration)
  const sustainedQueries = ((await stats(base)).selectOne) - before
  const windows = S.ttlMs > 0 ? (sustained.duration * 1000) / S.ttlMs : Infinity
  // Allowed: one per started window, plus one for a window cut by the start or the end.
  const allowed = S.ttlMs > 0 ? Math.ceil(windows) + 1 : Infinity
  const perTtl = sustainedQueries / windows
  const sustainedBad = sustained.errors + sustained.timeouts + sustained.non2xx

  // ---- report -----------------------------------------------------------------------
  const verdict = (pass: boolean | undefined) => (pass === undefined ? '' : pass ? 'PASS' : 'FAIL')
  const cpu = cpus()[0]?.model ?? 'unknown CPU'
  const lines: string[] = []
  lines.push('# Probe benchmark results', '')
  lines.push(`Generated by \`npm run bench\` (bench/probes.ts) on ${started.toISOString()}.`, '')
  lines.push(
    `- Node ${process.version}, ${process.platform}/${process.arch}, ${availableParallelism()} CPUs (${cpu}), load average at start ${load0.map((l) => l.toFixed(2)).join(' ')}`,
    `- Postgres and Redis: ${deps.description}`,
    `- Server: dist/ booted by bench/server.ts in a child process; LOG_LEVEL=warn, under-pressure thresholds off, READY_CACHE_TTL_MS=${S.ttlMs}`,
    `- Load: autocannon, ${S.connections} connections, pipelining 1; ${S.warmup} s warm-up per route, then ${S.rounds} rounds x ${S.duration} s per route, order rotated each round; medians over rounds`,
    '',
  )
  lines.push('## Throughput and latency', '')
  lines.push('| route | req/s | p99 ms | req/s vs /bare | p99 vs /bare | target (req/s) | result | server CPU µs/req | capacity vs /bare (CPU) | errors + non-2xx |')
  lines.push('|---|--:|--:|--:|--:|--:|---|--:|--:|--:|')
  for (const r of rows) {
    lines.push(
      `| \`${r.route}\` | ${fmt(r.rps)} | ${ms(r.p99)} | ${r.ratio.toFixed(2)}x | ${r.p99Ratio === undefined ? 'n/a (<1 ms)' : `${r.p99Ratio.toFixed(2)}x`} | ${r.target === undefined ? 'baseline' : `>= ${r.target}x`} | ${verdict(r.pass)} | ${r.cpu.toFixed(1)} | ${r.cpuRatio.toFixed(2)}x | ${r.bad} |`,
    )
  }
  lines.push(
    '',
    'Values are medians over rounds; ratios are the median of per-round ratios (each route against the /bare run of the same round).',
    'p99 has autocannon\'s 1 ms resolution; a p99 ratio is given only when every round\'s p99 is at least 1 ms. Lower p99 is better.',
    'The verdict is on req/s. "Capacity vs /bare (CPU)" is /bare\'s server CPU time per request divided by the route\'s:',
    'the throughput ratio a CPU-bound server would reach, unaffected by other processes competing for the cores.',
    '',
  )
  const spread = (values: number[]) => (Math.max(...values) - Math.min(...values)) / median(values)
  const bareSpread = spread(runs['/bare'].map((run) => run.rps))
  if (bareSpread > 0.3) {
    lines.push(
      `Noise: /bare alone ranged over ${(bareSpread * 100).toFixed(0)}% of its median req/s across rounds (load average ${load0.map((l) => l.toFixed(2)).join(' ')} at start, ${loadavg().map((l) => l.toFixed(2)).join(' ')} at the end); trust the CPU column over req/s in this run.`,
      '',
    )
  }
  lines.push('Per round: req/s, p99 ms, server CPU µs/request.', '')
  lines.push(`| round | ${ROUTES.map((r) => `\`${r}\``).join(' | ')} |`, `|---|${ROUTES.map(() => '--:').join('|')}|`)
  for (let i = 0; i < S.rounds; i++) {
    lines.push(`| ${i + 1} | ${ROUTES.map((r) => `${fmt(runs[r][i]!.rps)}, ${ms(runs[r][i]!.p99)}, ${runs[r][i]!.cpu.toFixed(1)}`).join(' | ')} |`)
  }
  lines.push('', '## Postgres queries caused by /ready', '')
  lines.push(`Readiness \`SELECT 1\` queries counted at the app's pool; cache TTL ${S.ttlMs} ms.`, '')
  lines.push('| load | /ready answered (200) | `SELECT 1` queries | TTL windows | queries per TTL | target | result |')
  lines.push('|---|--:|--:|--:|--:|---|---|')
  lines.push(
    `| ${S.readyConcurrency} concurrent, one burst | ${burst.length} (${burstOk}) | ${burstQueries} | 1 | ${burstQueries} | 1 | ${verdict(burstQueries <= 1 && burstOk === burst.length)} |`,
  )
  lines.push(
    `| ${S.readyConcurrency} connections, ${sustained.duration.toFixed(1)} s | ${fmt(sustained.requests.total)} (${fmt(sustained['2xx'])}) | ${sustainedQueries} | ${windows.toFixed(1)} | ${perTtl.toFixed(2)} | <= 1 (at most ${allowed} in all) | ${verdict(sustainedQueries <= allowed && sustainedBad === 0)} |`,
  )
  lines.push('')
  const report = lines.join('\n')
  await writeFile(new URL('./results.md', import.meta.url), report)
  console.log(`\n${report}`)
  log('written to bench/results.md')
}

try {
  await main()
} catch (err) {
  // Interrupted: the signal handler exits once cleanup is done; its errors are noise.
  if (!interrupted) {
    process.exitCode = 1
    console.error(err)
  }
} finally {
  await cleanup()
}
