// npm run bench: what does the template cost, next to what a user would pick instead?
//  1. Per request, measured from outside: the same load (autocannon, 10 connections)
//     against bare Fastify with and without a logger, the peers (lightship,
//     @godaddy/terminus, close-with-grace) and this template's /health, /ready and a
//     trivial business route, each server in its own process. The verdict is server CPU
//     time per request (robust on a shared machine, unlike req/s), with req/s and p99
//     beside it. Each case runs at the same time as a run of its baseline, in a process
//     of the baseline's that serves only this case's pair, on the same core, 15 rounds
//     in a row by default (BENCH_PAIRING=sequential: next to it, the cases in turn); a
//     case's figure is the median of its per-round ratios to those baseline runs, with
//     their interquartile range (Q1-Q3).
//     Where the machine has two cores and taskset, this process (autocannon, the load
//     generator, all threads) is pinned to one core and every server under test (all
//     threads) to another, so they do not compete for a core; the report says when
//     pinning was not possible. The server's RSS after start and under load is reported.
//  2. Start-up: process start to the first /ready 200, dependencies up, with the RSS at
//     that moment and the size of the built image (service-template:dev), if any.
//  3. Shutdown with a request in flight: how long after the drain delay and the request
//     the process takes to exit.
//  4. Postgres queries caused by N concurrent /ready probes per cache TTL (target: one),
//     counted at pg.Client's query and by the readiness rounds metric.
// Postgres and Redis are real: DATABASE_URL and REDIS_URL when both are set, otherwise
// containers started here (images from test/helpers/images.ts) and removed at the end.
// Not part of npm test, but a verdict: a target passes when the median is within it. Every
// missed target gets a FAIL line, and the process exits 1 at the end (after the report).
// Results go to stdout and to bench/results.{md,json,svg} (overwritten on each run).
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { readdirSync, readFileSync } from 'node:fs'
import { writeFile } from 'node:fs/promises'
import { request } from 'node:http'
import { join, resolve } from 'node:path'
import { createServer } from 'node:net'
import { availableParallelism, cpus, loadavg } from 'node:os'
import { setTimeout as sleep } from 'node:timers/promises'
import { fileURLToPath } from 'node:url'
import autocannon from 'autocannon'
import type { Target } from './targets.js'

// ---- settings (environment overrides) ---------------------------------------------
function setting(name: string, fallback: number): number {
  const raw = process.env[name]
  if (raw === undefined || raw.trim() === '') return fallback
  const value = Number(raw)
  if (!Number.isFinite(value) || value < 0) throw new Error(`${name}=${raw}: expected a non-negative number`)
  return value
}
function pairingSetting(): 'simultaneous' | 'sequential' {
  const raw = process.env.BENCH_PAIRING?.trim() || 'simultaneous'
  if (raw !== 'simultaneous' && raw !== 'sequential') throw new Error(`BENCH_PAIRING=${raw}: expected simultaneous or sequential`)
  return raw
}
const S = {
  /** Seconds per measured run, per case and round. */
  duration: setting('BENCH_DURATION', 3),
  /** Seconds of unmeasured load per case before the first round. */
  warmup: setting('BENCH_WARMUP', 3),
  rounds: Math.max(1, Math.round(setting('BENCH_ROUNDS', 15))),
  connections: Math.max(1, Math.round(setting('BENCH_CONNECTIONS', 10))),
  /** Connections each server of a simultaneous pair gets: the load split between them. */
  get pairedConnections(): number {
    return Math.max(1, Math.round(this.connections / 2))
  },
  /** Start-up and shutdown measurements, each. */
  lifecycleRounds: Math.max(1, Math.round(setting('BENCH_LIFECYCLE_ROUNDS', 5))),
  /** Drain delay and in-flight request of the shutdown measurement. */
  drainMs: setting('BENCH_DRAIN_MS', 1000),
  requestMs: setting('BENCH_REQUEST_MS', 2000),
  /** N: concurrent /ready probes in the query count. */
  readyConcurrency: Math.max(1, Math.round(setting('BENCH_READY_CONCURRENCY', 100))),
  /** Seconds of sustained N-concurrent /ready load in the query count. */
  readyDuration: setting('BENCH_READY_DURATION', 5),
  /** The service's readiness cache TTL (its own variable, passed through). */
  ttlMs: setting('READY_CACHE_TTL_MS', 1000),
  /**
   * How a case and its baseline (or reference) run in a round: `simultaneous` (the default),
   * both at once, each with half the connections, on the same core; `sequential`, one after
   * the other. On a shared machine the CPU a request costs drifts from second to second
   * (other jobs, caches, the host): run at once, both meet the same drift and their ratio
   * keeps little of it. Two identical servers measured so, 15 rounds: IQR of the per-round
   * ratios 0.985-1.018x, against 0.90-1.13x one after the other (docs/benchmarks.md).
   */
  pairing: pairingSetting(),
  /** Pin the load generator and the servers to different cores (BENCH_PIN=0: do not). */
  pin: setting('BENCH_PIN', 1) !== 0,
  /** Milliseconds between RSS samples of the server under load. */
  rssIntervalMs: Math.max(10, setting('BENCH_RSS_INTERVAL_MS', 100)),
  /**
   * A directory: every server under test writes a V8 CPU profile there when it stops
   * (`node bench/profile.ts <dir>` prints its top frames). The sampling costs CPU too:
   * a run with profiles is for finding where time goes, not for a verdict.
   */
  cpuProfileDir: process.env.BENCH_CPU_PROF ? resolve(process.env.BENCH_CPU_PROF) : undefined,
}

// ---- what is measured ---------------------------------------------------------------
interface Case {
  id: string
  label: string
  target: Target
  path: string
  /** Upper bound on CPU per request relative to the baseline (verdict), if any. */
  limit?: number
  /**
   * The case it is compared with instead of the baseline: its ratio (and limit) is to a
   * run of that case next to it in each round.
   */
  against?: string
  /**
   * Run with the tracing preload, as the image runs it: the share of requests sampled and
   * exported to a running collector; 0, the preload with tracing off (no endpoint).
   */
  sampled?: number
}
const BASELINE = 'fastify-logger'
// Targets (issue 14), on the median ratio of CPU per request to the baseline.
/** The probes: no dearer than bare Fastify with a logger. */
const PROBE_LIMIT = 1.0
/** A trivial business route, every app-wide hook applied, metrics on. */
const ROUTE_LIMIT = 1.1
const CASES: Case[] = [
  { id: 'fastify-bare', label: 'bare Fastify, no logger', target: 'fastify-bare', path: '/health' },
  { id: BASELINE, label: 'bare Fastify + pino (baseline)', target: 'fastify-logger', path: '/health' },
  { id: 'lightship', label: 'lightship', target: 'lightship', path: '/health' },
  { id: 'terminus', label: '@godaddy/terminus', target: 'terminus', path: '/health' },
  { id: 'close-with-grace', label: 'close-with-grace', target: 'close-with-grace', path: '/health' },
  { id: 'template-health', label: 'template', target: 'template', path: '/health', limit: PROBE_LIMIT },
  { id: 'template-ready', label: 'template', target: 'template', path: '/ready', limit: PROBE_LIMIT },
  { id: 'template-hello', label: 'template, business route', target: 'template-route', path: '/hello', limit: ROUTE_LIMIT },
  // Tracing (docs/tracing.md), against the template without tracing, each round next to a
  // run of its business route: off 1.02x, 10 % sampled 1.15x, 100 % sampled 1.40x.
  { id: 'template-tracing-off', label: 'template, business route, tracing preload, off', target: 'template-route', path: '/hello', limit: 1.02, against: 'template-hello', sampled: 0 },
  tracingCase(0.1, 1.15),
  tracingCase(1, 1.4),
]
// BENCH_TRACING_RATIOS=0.01,0.5: the tracing case at other sampled shares, without a target
// (what a ratio costs, for choosing one: docs/tracing.md); they run whatever BENCH_CASES says.
const RATIO_CASES = ratios().map((ratio) => tracingCase(ratio))
// A share that names a case already there (10 %, or one given twice) would run it twice under one id.
for (const [i, c] of RATIO_CASES.entries()) {
  if (CASES.some((other) => other.id === c.id) || RATIO_CASES.findIndex((other) => other.id === c.id) !== i) {
    throw new Error(`BENCH_TRACING_RATIOS=${process.env.BENCH_TRACING_RATIOS}: ${c.id} is already a case`)
  }
}
// In the report, the tracing cases in the order of their share (a stable sort: the rest stay).
CASES.push(...RATIO_CASES)
CASES.sort((a, b) => (a.sampled ?? -1) - (b.sampled ?? -1))

/** The business route with the tracing preload, `sampled` of its requests exported. */
function tracingCase(sampled: number, limit?: number): Case {
  const percent = Number((sampled * 100).toPrecision(6))
  return { id: `template-tracing-${percent}`, label: `template, business route, tracing ${percent} % sampled`, target: 'template-route', path: '/hello', limit, against: 'template-hello', sampled }
}

function ratios(): number[] {
  const raw = process.env.BENCH_TRACING_RATIOS?.trim()
  if (!raw) return []
  return raw.split(',').map((part) => {
    const ratio = Number(part.trim())
    if (!(ratio > 0 && ratio < 1)) throw new Error(`BENCH_TRACING_RATIOS=${raw}: expected shares between 0 and 1`)
    return ratio
  })
}
// BENCH_CASES=template-health,fastify-logger runs a subset (the baseline is always in).
const only = process.env.BENCH_CASES?.split(',').map((s) => s.trim()).filter(Boolean)
const cases = only ? CASES.filter((c) => c.id === BASELINE || only.includes(c.id) || RATIO_CASES.includes(c)) : CASES
/** What a case is compared with: the baseline, or its `against` case (run as well, unlisted or not). */
const reference = (c: Case): Case => CASES.find((other) => other.id === (c.against ?? BASELINE))!
const referenceName = (c: Case) => (c.against ? `the ${reference(c).label} ${reference(c).path}` : 'the baseline')
const skipLifecycle = process.env.BENCH_SKIP_LIFECYCLE === '1'

// ---- cleanup: containers and children, also on Ctrl-C --------------------------------
// Single-flight: a signal and the main flow's `finally` share one cleanup, and the
// process exits only after it.
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
    if (interrupted) return console.error(`${signal}: still stopping the servers and the containers`)
    interrupted = signal
    console.error(`\n${signal}: stopping the servers and the containers`)
    void cleanup().finally(() => process.exit(130))
  })
}

function log(line: string) {
  console.error(`[bench] ${line}`)
}

// ---- pinning: the load generator and the server on different cores ---------------------
// On a 2-core machine autocannon and the server otherwise take turns on both cores, and the
// server's CPU per request then depends on where the scheduler put whom (cache misses, the
// kernel's share of the socket work): ratios that swing by 0.3x from round to round.
// autocannon runs in this process: all its threads go to the first allowed core; every
// server under test is started through `taskset -a -c <second core>`, all its threads
// (V8's, libuv's) on the second one.
/** A line of /proc/<pid>/status (Linux), e.g. VmRSS or Cpus_allowed_list. */
function procStatus(pid: number | 'self', field: string, task?: string): string | undefined {
  try {
    const text = readFileSync(`/proc/${pid}/${task ? `task/${task}/` : ''}status`, 'utf8')
    return new RegExp(`^${field}:\\s*(.*)$`, 'm').exec(text)?.[1]?.trim()
  } catch {
    return undefined
  }
}

/** "0-1,3" → [0, 1, 3] */
function cpuList(list: string): number[] {
  return list.split(',').flatMap((part) => {
    const [from, to = from] = part.split('-').map(Number)
    return from === undefined || to === undefined || !Number.isInteger(from) ? [] : Array.from({ length: to - from + 1 }, (_, i) => from + i)
  })
}

/** The affinity of each thread of a process: whether all of them are on exactly `cpu`. */
function threadsOn(pid: number | 'self', cpu: number): { threads: number; on: number } {
  let tasks: string[]
  try {
    tasks = readdirSync(`/proc/${pid}/task`)
  } catch {
    return { threads: 0, on: 0 }
  }
  const on = tasks.filter((t) => {
    const list = procStatus(pid, 'Cpus_allowed_list', t)
    return list !== undefined && cpuList(list).join() === String(cpu)
  }).length
  return { threads: tasks.length, on }
}

interface Pinning {
  /** This process: autocannon and the bench's own work. */
  load: number
  /** Every server under test. */
  server: number
}
const cpusAtStart = availableParallelism()
let pinning: Pinning | undefined
let pinningNote = 'not pinned'

function pin(): void {
  if (!S.pin) {
    pinningNote = 'not pinned (BENCH_PIN=0): the servers and the load generator share all cores'
    return
  }
  if (process.platform !== 'linux') {
    pinningNote = `pinning not possible on ${process.platform} (taskset is Linux's): the servers and the load generator share all cores`
    return
  }
  if (spawnSync('sh', ['-c', 'command -v taskset'], { stdio: 'ignore' }).status !== 0) {
    pinningNote = 'pinning not possible: no taskset on this machine (util-linux): the servers and the load generator share all cores'
    return
  }
  const allowed = cpuList(procStatus('self', 'Cpus_allowed_list') ?? '')
  if (allowed.length < 2) {
    pinningNote = `pinning not possible: this process may run on ${allowed.length ? `CPU ${allowed.join()} only` : 'an unknown set of CPUs'}: the servers and the load generator share it`
    return
  }
  const [load, server] = allowed as [number, number]
  const set = spawnSync('taskset', ['-a', '-p', '-c', String(load), String(process.pid)], { encoding: 'utf8' })
  const self = threadsOn('self', load)
  if (set.status !== 0 || self.on !== self.threads) {
    pinningNote = `pinning not possible: taskset -a -p -c ${load} ${process.pid} failed (${(set.stderr || `${self.on} of ${self.threads} threads pinned`).trim()})`
    return
  }
  pinning = { load, server }
  pinningNote = `pinned: the load generator (autocannon, in the bench process, all ${self.threads} threads) on CPU ${load}, each server under test (all threads, \`taskset -a -c ${server}\`) on CPU ${server}`
}

/** A command run on the servers' core when pinned. */
function onServerCore(command: string, args: string[]): [string, string[]] {
  return pinning ? ['taskset', ['-a', '-c', String(pinning.server), command, ...args]] : [command, args]
}

/** Checks that a started server runs on its core only, all threads. */
function checkPinned(pid: number | undefined, what: string): void {
  if (!pinning || pid === undefined) return
  const { threads, on } = threadsOn(pid, pinning.server)
  if (threads === 0 || on !== threads) throw new Error(`${what}: ${on} of ${threads} threads on CPU ${pinning.server}; pinning did not hold`)
}

// ---- memory: the server's resident set (VmRSS), Linux ------------------------------------
/** Bytes, or NaN where /proc is not there. */
function rss(pid: number | undefined): number {
  const line = pid === undefined ? undefined : procStatus(pid, 'VmRSS')
  const m = line ? /^(\d+)\s*kB$/.exec(line) : null
  return m ? Number(m[1]) * 1024 : NaN
}

/** Samples a process's RSS until stopped; returns the largest sample (bytes, NaN if none). */
function sampleRss(pid: number | undefined, intervalMs: number): () => number {
  let max = NaN
  const sample = () => {
    const now = rss(pid)
    if (!Number.isNaN(now) && !(now <= max)) max = now
  }
  sample()
  const timer = setInterval(sample, intervalMs)
  return () => {
    clearInterval(timer)
    sample()
    return max
  }
}

const mb = (bytes: number) => (Number.isNaN(bytes) ? 'n/a' : fmt(bytes / 1e6, 1))

// ---- the image's size: service-template:dev, built elsewhere (never here) -----------------
const IMAGE = 'service-template:dev'

/** The size of the built image, through the docker CLI or the engine's API (DOCKER_HOST). */
async function imageSize(): Promise<{ bytes?: number; note: string }> {
  if (spawnSync('sh', ['-c', 'command -v docker'], { stdio: 'ignore' }).status === 0) {
    const r = spawnSync('docker', ['image', 'inspect', IMAGE, '--format', '{{.Size}}'], { encoding: 'utf8', timeout: 30_000 })
    const bytes = Number(r.stdout.trim())
    if (r.status === 0 && Number.isFinite(bytes) && bytes > 0) return { bytes, note: `\`docker image inspect ${IMAGE}\`` }
    if (/no such (image|object)|image not known|not found/i.test(r.stderr)) return { note: 'image not built' }
  }
  // No CLI (or it failed otherwise): the engine's API on its unix socket.
  const host = process.env.DOCKER_HOST ?? 'unix:///var/run/docker.sock'
  if (!host.startsWith('unix://')) return { note: `no container engine reachable (DOCKER_HOST=${host} is not a unix socket and the docker CLI did not answer)` }
  const socketPath = host.slice('unix://'.length)
  try {
    const { status, body } = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = request({ socketPath, path: `/images/${encodeURIComponent(IMAGE)}/json`, timeout: 10_000 }, (res) => {
        let text = ''
        res.setEncoding('utf8').on('data', (chunk: string) => (text += chunk))
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }))
      })
      req.on('timeout', () => req.destroy(new Error('timeout')))
      req.on('error', reject)
      req.end()
    })
    if (status === 404) return { note: 'image not built' }
    const size = (JSON.parse(body) as { Size?: unknown }).Size
    if (status === 200 && typeof size === 'number') return { bytes: size, note: `the engine's API at ${socketPath}` }
    return { note: `the engine answered ${status}` }
  } catch (err) {
    return { note: `no container engine reachable (${(err as Error).message})` }
  }
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

async function freePort(): Promise<number> {
  const srv = createServer().listen(0, '127.0.0.1')
  await once(srv, 'listening')
  const { port } = srv.address() as { port: number }
  srv.close()
  await once(srv, 'close')
  return port
}

/** The service's environment: production defaults, except what a benchmark must change. */
function serviceEnv(deps: Deps, metricsPort: number): Record<string, string> {
  return {
    PATH: process.env.PATH ?? '',
    HOST: '127.0.0.1',
    PORT: '0',
    METRICS_PORT: String(metricsPort),
    DATABASE_URL: deps.databaseUrl,
    REDIS_URL: deps.redisUrl,
    LOG_LEVEL: 'info',
    READY_CACHE_TTL_MS: String(S.ttlMs),
    // The benchmark saturates the event loop on purpose: with the default thresholds the
    // business route would be shed (503) and /ready report "under pressure" (503), and
    // the runs would time the rejection path. Limits that no sample reaches keep
    // under-pressure's per-request hook in place, so its cost is measured.
    MAX_EVENT_LOOP_UTILIZATION: '1',
    MAX_EVENT_LOOP_DELAY_MS: '600000',
  }
}

// ---- the servers under test ---------------------------------------------------------
interface Stats {
  cpuMicros: number
  systemMicros: number
  selectOne?: number
}

interface Server {
  target: Target
  child: ChildProcess
  base: string
  metricsBase?: string
  /** Resident set size (bytes) right after the server said it was ready, before any load. */
  rssStart: number
  stats(): Promise<Stats>
}

const tracingPreload = fileURLToPath(new URL('../dist/tracing.js', import.meta.url))
/** The tracing variants' environment: the collector and the sampled share (none when off). */
function tracingEnv(c: Case, otlpUrl: string | undefined): Record<string, string> {
  if (!c.sampled) return {}
  if (otlpUrl === undefined) throw new Error(`${c.id} needs a collector`)
  return { OTEL_EXPORTER_OTLP_ENDPOINT: otlpUrl, OTEL_SERVICE_NAME: c.id, OTEL_TRACES_SAMPLER: 'parentbased_traceidratio', OTEL_TRACES_SAMPLER_ARG: String(c.sampled) }
}

/** A running Jaeger (JAEGER_IMAGE) for the sampled tracing cases to export to. */
async function startCollector(): Promise<string> {
  const { images } = (await import(new URL('../test/helpers/images.ts', import.meta.url).href)) as typeof import('../test/helpers/images.js')
  const { startJaeger } = (await import(new URL('../test/helpers/jaeger.ts', import.meta.url).href)) as typeof import('../test/helpers/jaeger.js')
  log(`starting the trace collector: ${images.jaeger}`)
  const jaeger = await startJaeger(images.jaeger)
  cleanups.push(() => jaeger.stop())
  return jaeger.otlpUrl
}

async function startTarget(target: Target, env: Record<string, string>, name: string, preload: boolean): Promise<Server> {
  // As fork() would, but through taskset when pinned (taskset execs node: same pid, the
  // IPC channel's descriptor and NODE_CHANNEL_FD inherited).
  const [command, args] = onServerCore(process.execPath, [
    ...process.execArgv,
    ...(S.cpuProfileDir ? ['--cpu-prof', `--cpu-prof-dir=${join(S.cpuProfileDir, name)}`, '--cpu-prof-interval=100'] : []),
    // The tracing variants start as the image does: the preload before the app's modules.
    ...(preload ? ['--import', tracingPreload] : []),
    fileURLToPath(new URL('./targets.ts', import.meta.url)),
    target,
  ])
  const child = spawn(command, args, {
    env,
    // The servers' logs are not the subject; their errors are.
    stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
  })
  cleanups.push(() => stopChild(child))
  const ready = await new Promise<{ port: number; metricsPort?: number }>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${target} not ready within 60 s`)), 60_000)
    child.on('message', (msg: { type?: string; port?: number; metricsPort?: number }) => {
      if (msg.type === 'ready' && typeof msg.port === 'number') {
        clearTimeout(timer)
        resolve({ port: msg.port, ...(msg.metricsPort ? { metricsPort: msg.metricsPort } : {}) })
      }
    })
    child.once('exit', (code, signal) => {
      clearTimeout(timer)
      reject(new Error(`${target} exited during startup (code ${code}, signal ${signal})`))
    })
  })
  const rssStart = rss(child.pid)
  checkPinned(child.pid, target)
  let waiting: ((stats: Stats) => void) | undefined
  child.on('message', (msg: { type?: string } & Partial<Stats>) => {
    if (msg.type === 'stats' && waiting) waiting(msg as Stats)
  })
  return {
    target,
    child,
    base: `http://127.0.0.1:${ready.port}`,
    ...(ready.metricsPort ? { metricsBase: `http://127.0.0.1:${ready.metricsPort}` } : {}),
    rssStart,
    stats: () =>
      new Promise((resolve) => {
        waiting = resolve
        child.send({ type: 'stats' })
      }),
  }
}

async function stopChild(child: ChildProcess, signal: NodeJS.Signals = 'SIGTERM') {
  if (child.exitCode !== null || child.signalCode !== null) return
  const exited = once(child, 'exit')
  child.kill(signal)
  const timeout = sleep(10_000).then(() => 'timeout' as const)
  if ((await Promise.race([exited, timeout])) === 'timeout') {
    child.kill('SIGKILL')
    await exited
  }
}

// ---- load -----------------------------------------------------------------------------
interface Run {
  rps: number
  /** Milliseconds, from our own per-response timings (autocannon's histogram is whole ms). */
  p99: number
  requests: number
  bad: number
  /** Server CPU time per request, microseconds. */
  cpu: number
  /** The user-space part of it (the rest is the kernel's: sockets, mostly the same for every server). */
  user: number
  /** The server's largest RSS sample during the run, bytes. */
  rssMax: number
}

async function load(url: string, connections: number, duration: number, latencies?: number[]) {
  const instance = autocannon({ url, connections, pipelining: 1, duration })
  if (latencies) instance.on('response', (_client, _status, _bytes, ms) => latencies.push(ms))
  return instance
}

function percentile(values: number[], p: number): number {
  if (values.length === 0) return NaN
  const sorted = Float64Array.from(values).sort()
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]!
}

async function measure(server: Server, path: string, connections = S.connections): Promise<Run> {
  const latencies: number[] = []
  const before = await server.stats()
  const stopRss = sampleRss(server.child.pid, S.rssIntervalMs)
  const result = await load(`${server.base}${path}`, connections, S.duration, latencies)
  const rssPeak = stopRss()
  const after = await server.stats()
  return {
    rps: result.requests.average,
    p99: percentile(latencies, 0.99),
    requests: result.requests.total,
    bad: result.errors + result.timeouts + result.non2xx,
    cpu: (after.cpuMicros - before.cpuMicros) / Math.max(1, result.requests.total),
    user: (after.cpuMicros - after.systemMicros - (before.cpuMicros - before.systemMicros)) / Math.max(1, result.requests.total),
    rssMax: rssPeak,
  }
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b)
  const mid = sorted.length >> 1
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2
}

/** The p-quantile, linearly interpolated between order statistics (as R's type 7, numpy's default). */
function quantile(values: number[], p: number): number {
  if (values.length === 0) return NaN
  const sorted = [...values].sort((a, b) => a - b)
  const at = p * (sorted.length - 1)
  const lo = Math.floor(at)
  const hi = Math.min(sorted.length - 1, lo + 1)
  return sorted[lo]! + (sorted[hi]! - sorted[lo]!) * (at - lo)
}

const fmt = (n: number, digits = 0) => n.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits })

// ---- start-up and shutdown of the real server (dist/server.js) -----------------------
const serverEntry = fileURLToPath(new URL('../dist/server.js', import.meta.url))
// The same main() with the test fixture's routes: the shutdown's request in flight is its /fixture/slow.
const fixtureEntry = fileURLToPath(new URL('../test/fixtures/server.ts', import.meta.url))

function spawnService(env: Record<string, string>, entry = serverEntry) {
  const [command, args] = onServerCore(process.execPath, [entry])
  const child = spawn(command, args, { env, stdio: ['ignore', 'pipe', 'inherit'] })
  cleanups.push(() => stopChild(child, 'SIGKILL'))
  let out = ''
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (out += chunk))
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)))
  const listening = new Promise<string>((resolve, reject) => {
    const check = () => {
      const m = /"msg":"Server listening at (http:\/\/127\.0\.0\.1:\d+)"/.exec(out)
      if (m) {
        child.stdout.off('data', check)
        resolve(m[1]!)
      }
    }
    child.stdout.on('data', check)
    void exited.then((code) => reject(new Error(`server exited with ${code} before listening:\n${out}`)))
  })
  return { child, exited, listening, output: () => out }
}

/** Process start (spawn) to the first /ready 200, polled every 5 ms. */
async function startupTime(deps: Deps): Promise<{ ms: number; readyLogMs: number; rss: number }> {
  const began = performance.now()
  const svc = spawnService(serviceEnv(deps, await freePort()))
  const base = await svc.listening
  for (;;) {
    const res = await fetch(`${base}/ready`).catch(() => undefined)
    await res?.arrayBuffer()
    if (res?.status === 200) break
    if (performance.now() - began > 60_000) throw new Error(`not ready within 60 s:\n${svc.output()}`)
    await sleep(5)
  }
  const ms = performance.now() - began
  const rssReady = rss(svc.child.pid)
  checkPinned(svc.child.pid, 'dist/server.js')
  // The service's own view: msSinceBoot of its `lifecycle: ready` line (from process start).
  const readyLine = svc.output().split('\n').find((l) => l.includes('"lifecycle":"ready"'))
  const readyLogMs = readyLine ? (JSON.parse(readyLine) as { msSinceBoot: number }).msSinceBoot : NaN
  await stopChild(svc.child, 'SIGKILL')
  return { ms, readyLogMs, rss: rssReady }
}

/**
 * SIGTERM with a request in flight: signal → drain (DRAIN_DELAY_MS) → the request completes
 * → exit. Overhead: exit time minus the later of the drain's end and the response.
 */
async function shutdownTime(deps: Deps): Promise<{ totalMs: number; overheadMs: number; code: number | null }> {
  const svc = spawnService({ ...serviceEnv(deps, await freePort()), DRAIN_DELAY_MS: String(S.drainMs), SHUTDOWN_TIMEOUT_MS: '30000' }, fixtureEntry)
  const base = await svc.listening
  while ((await fetch(`${base}/ready`).then((r) => (void r.arrayBuffer(), r.status)).catch(() => 0)) !== 200) await sleep(20)
  const requested = performance.now()
  const response = fetch(`${base}/fixture/slow?ms=${S.requestMs}`).then(async (r) => {
    await r.arrayBuffer()
    if (r.status !== 200) throw new Error(`in-flight request answered ${r.status}`)
    return performance.now()
  })
  // The request reaches the server before the signal does.
  await sleep(Math.min(100, S.requestMs / 2))
  const signalled = performance.now()
  svc.child.kill('SIGTERM')
  const code = await svc.exited
  const exitedAt = performance.now()
  const respondedAt = await response
  void requested
  return {
    totalMs: exitedAt - signalled,
    overheadMs: exitedAt - Math.max(signalled + S.drainMs, respondedAt),
    code,
  }
}

// ---- Postgres queries per TTL ---------------------------------------------------------
async function readinessRounds(server: Server): Promise<number> {
  if (!server.metricsBase) return NaN
  const text = await (await fetch(`${server.metricsBase}/metrics`)).text()
  const m = /^readiness_rounds_total (\d+)/m.exec(text)
  return m ? Number(m[1]) : NaN
}

async function queryCount(server: Server) {
  //  a) one burst of N at once, on an expired cache;
  await sleep(S.ttlMs + 200)
  let before = await server.stats()
  let roundsBefore = await readinessRounds(server)
  const burst = await Promise.all(
    Array.from({ length: S.readyConcurrency }, async () => {
      const res = await fetch(`${server.base}/ready`)
      await res.arrayBuffer()
      return res.status
    }),
  )
  const burstQueries = (await server.stats()).selectOne! - before.selectOne!
  const burstRounds = (await readinessRounds(server)) - roundsBefore
  const burstOk = burst.filter((s) => s === 200).length
  //  b) N connections hammering /ready for several TTL windows.
  await sleep(S.ttlMs + 200)
  before = await server.stats()
  roundsBefore = await readinessRounds(server)
  const sustained = await load(`${server.base}/ready`, S.readyConcurrency, S.readyDuration)
  const sustainedQueries = (await server.stats()).selectOne! - before.selectOne!
  const sustainedRounds = (await readinessRounds(server)) - roundsBefore
  const windows = S.ttlMs > 0 ? (sustained.duration * 1000) / S.ttlMs : Infinity
  // Allowed: one per started window, plus one for a window cut by the start or the end.
  const allowed = S.ttlMs > 0 ? Math.ceil(windows) + 1 : Infinity
  return {
    burst: { n: burst.length, ok: burstOk, queries: burstQueries, rounds: burstRounds, pass: burstQueries === 1 && burstOk === burst.length },
    sustained: {
      answered: sustained.requests.total,
      ok: sustained['2xx'],
      duration: sustained.duration,
      queries: sustainedQueries,
      rounds: sustainedRounds,
      windows,
      allowed,
      // At least one: none at all means the count, not the cache, is broken.
      pass: sustainedQueries >= 1 && sustainedQueries <= allowed && sustained.errors + sustained.timeouts + sustained.non2xx === 0,
    },
  }
}

// ---- main -------------------------------------------------------------------------------
async function main() {
  const started = new Date()
  const load0 = loadavg()
  pin()
  log(pinningNote)
  const needsDeps = cases.some((c) => c.target.startsWith('template')) || !skipLifecycle
  const deps = needsDeps ? await startDeps() : undefined
  if (deps) log(`dependencies: ${deps.description}`)
  const otlpUrl = cases.some((c) => c.sampled) ? await startCollector() : undefined
  if (otlpUrl) log(`trace collector: Jaeger, OTLP at ${otlpUrl}`)

  // Each case gets two processes: its own, and one of its reference (the baseline, or its
  // `against` case) that runs only next to it. A process shared by several pairs would be
  // busy while the others idle, and its CPU per request is not an idle one's: one reference
  // process behind three tracing cases made the untraced template measure 1.06-1.20x of
  // itself. At the same time (the default), a case's pair starts just before its rounds:
  // started with all the others, the business route's pair waited some three minutes idle
  // and measured 1.34x where it measures 1.10-1.15x first (docs/benchmarks.md).
  const baselineCase = cases.find((c) => c.id === BASELINE)!
  const others = cases.filter((c) => c !== baselineCase)
  const start = async (c: Case, name: string) => {
    const env = c.target.startsWith('template') ? { ...serviceEnv(deps!, await freePort()), ...tracingEnv(c, otlpUrl) } : { PATH: process.env.PATH ?? '' }
    const server = await startTarget(c.target, env, name, c.sampled !== undefined)
    log(`${name} (${c.target}) up at ${server.base}, pid ${server.child.pid}, RSS ${mb(server.rssStart)} MB${pinning ? `, all threads on CPU ${pinning.server}` : ''}`)
    return server
  }
  const own = new Map<string, Server>()
  const paired = new Map<string, Server>()
  const up = async (c: Case) => {
    const mine = await start(c, c.id)
    const ref = await start(reference(c), `reference-of-${c.id}`)
    own.set(c.id, mine)
    paired.set(c.id, ref)
    for (const [one, server] of [[c, mine], [reference(c), ref]] as const) {
      const res = await fetch(`${server.base}${one.path}`)
      const body = await res.text()
      if (res.status !== 200) throw new Error(`${one.label} answered ${res.status} before the benchmark: ${body}`)
    }
  }
  if (S.pairing === 'sequential') for (const c of others) await up(c)

  // 1. Per request: warm up, then rounds. In each round a case runs at the same time as a
  //    run of its reference (sequential: right before or after it, in turn), and its ratio
  //    is taken against that run: on a shared machine the noise drifts over seconds, so
  //    only runs at the same moment compare well.
  const warmUp = async (c: Case, server: Server) => {
    log(`warm-up ${c.label} ${c.path} at ${server.base} (${S.warmup} s)`)
    if (S.warmup > 0) await load(`${server.base}${c.path}`, S.connections, S.warmup)
  }
  if (S.pairing === 'sequential') {
    for (const c of others) {
      await warmUp(c, own.get(c.id)!)
      await warmUp(reference(c), paired.get(c.id)!)
    }
  }
  const runs = new Map<string, Run[]>(cases.map((c) => [c.id, []]))
  const ratios = new Map<string, number[]>(cases.map((c) => [c.id, []]))
  const referenceCpu = new Map<string, number[]>(cases.map((c) => [c.id, []]))
  const run = async (c: Case, server: Server, round: number, connections?: number) => {
    const result = await measure(server, c.path, connections)
    runs.get(c.id)!.push(result)
    log(
      `round ${round + 1}/${S.rounds} ${c.label} ${c.path}: ${result.cpu.toFixed(1)} µs CPU/req, ${fmt(result.rps)} req/s, p99 ${result.p99.toFixed(2)} ms, RSS max ${mb(result.rssMax)} MB${result.bad ? `, ${result.bad} errors/non-2xx` : ''}`,
    )
    await sleep(200)
    return result
  }
  // A run of an `against` case as another's reference is not one of its own runs.
  const asReference = async (c: Case, server: Server, round: number, connections?: number) => {
    const result = await measure(server, c.path, connections)
    log(`round ${round + 1}/${S.rounds} ${c.label} ${c.path} (reference): ${result.cpu.toFixed(1)} µs CPU/req`)
    await sleep(200)
    return result
  }
  // At the same time, a pair meets the machine's drift together: its rounds run one after
  // the other, so both of its processes stay under load as a busy pod's does, where rounds
  // rotating over the cases would leave each pair idle while the others run (a process
  // resumed from idle pays for it: caches, heap). One after the other, the order rotates per
  // round, so that no case meets the same stretch of drift in every round.
  const schedule =
    S.pairing === 'simultaneous'
      ? others.flatMap((c) => Array.from({ length: S.rounds }, (_, round) => ({ c, round })))
      : Array.from({ length: S.rounds }, (_, round) => others.map((_, i) => ({ c: others[(i + round) % others.length]!, round }))).flat()
  for (const { c, round } of schedule) {
    if (S.pairing === 'simultaneous' && round === 0) {
      await up(c)
      await Promise.all([warmUp(reference(c), paired.get(c.id)!), warmUp(c, own.get(c.id)!)])
    }
    const mineServer = own.get(c.id)!
    const refServer = paired.get(c.id)!
    const runRef = (connections?: number) => (c.against ? asReference(reference(c), refServer, round, connections) : run(baselineCase, refServer, round, connections))
    let base: Run, mine: Run
    if (S.pairing === 'simultaneous') {
      // Both servers on the same core (pinned) share it, and the load.
      ;[base, mine] = await Promise.all([runRef(S.pairedConnections), run(c, mineServer, round, S.pairedConnections)])
    } else {
      // Each case's own index, not its place in the rotated order: by its place, a case
      // would come first in every round, or second in every round.
      const refFirst = (round + others.indexOf(c)) % 2 === 0
      const first = await (refFirst ? runRef() : run(c, mineServer, round))
      const second = await (refFirst ? run(c, mineServer, round) : runRef())
      ;[base, mine] = refFirst ? [first, second] : [second, first]
    }
    ratios.get(c.id)!.push(mine.cpu / base.cpu)
    referenceCpu.get(c.id)!.push(base.cpu)
  }
  ratios.set(BASELINE, [1])
  // The baseline only runs next to cases compared with it.
  const rows = cases.filter((c) => runs.get(c.id)!.length > 0).map((c) => {
    const r = runs.get(c.id)!
    const caseRatios = ratios.get(c.id)!
    const ratio = median(caseRatios)
    const bad = r.reduce((sum, one) => sum + one.bad, 0)
    const rssLoad = Math.max(...r.map((one) => one.rssMax).filter((v) => !Number.isNaN(v)))
    return {
      id: c.id,
      label: c.label,
      path: c.path,
      cpu: median(r.map((one) => one.cpu)),
      user: median(r.map((one) => one.user)),
      ratio,
      /** Interquartile range of the per-round ratios. */
      q1: quantile(caseRatios, 0.25),
      q3: quantile(caseRatios, 0.75),
      min: Math.min(...caseRatios),
      max: Math.max(...caseRatios),
      rps: median(r.map((one) => one.rps)),
      p99: median(r.map((one) => one.p99)),
      bad,
      /** RSS (bytes) after start, before any load, and the largest sample during this case's runs. */
      rssStart: (own.get(c.id) ?? paired.get(others.find((o) => !o.against)?.id ?? ''))?.rssStart ?? NaN,
      rssLoad: Number.isFinite(rssLoad) ? rssLoad : NaN,
      limit: c.limit,
      against: referenceName(c),
      /** The median CPU per request of the runs it was compared with (the chart's scale for its ratio). */
      referenceCpu: c.id === BASELINE ? undefined : median(referenceCpu.get(c.id)!),
      // The verdict: the median within the target, and not one error or non-2xx.
      pass: c.limit === undefined ? undefined : ratio <= c.limit && bad === 0,
      rounds: r,
      ratios: ratios.get(c.id)!,
    }
  })

  // 2-3. Start-up and shutdown of the real server.
  const startups: Array<{ ms: number; readyLogMs: number; rss: number }> = []
  const shutdowns: Array<{ totalMs: number; overheadMs: number; code: number | null }> = []
  if (!skipLifecycle && deps) {
    for (let i = 0; i < S.lifecycleRounds; i++) {
      startups.push(await startupTime(deps))
      log(`start-up ${i + 1}/${S.lifecycleRounds}: ${startups.at(-1)!.ms.toFixed(0)} ms to /ready 200, RSS ${mb(startups.at(-1)!.rss)} MB`)
    }
    for (let i = 0; i < S.lifecycleRounds; i++) {
      shutdowns.push(await shutdownTime(deps))
      const s = shutdowns.at(-1)!
      log(`shutdown ${i + 1}/${S.lifecycleRounds}: ${s.totalMs.toFixed(0)} ms, ${s.overheadMs.toFixed(0)} ms after drain and request, exit ${s.code}`)
    }
  }

  // 4. Postgres queries per TTL: in the /ready case's process, when that case runs.
  const template = own.get('template-ready')
  const queries = template ? await queryCount(template) : undefined
  const image = await imageSize()
  log(`image ${IMAGE}: ${image.bytes === undefined ? image.note : `${mb(image.bytes)} MB (${image.note})`}`)

  // ---- report -----------------------------------------------------------------------
  const verdict = (pass: boolean | undefined) => (pass === undefined ? '' : pass ? 'PASS' : 'FAIL')
  const x = (n: number) => `${n.toFixed(2)}x`
  const load1 = loadavg()
  const cpu = cpus()[0]?.model ?? 'unknown CPU'
  // Every target's verdict, one line each: the Verdict section and the exit code.
  const verdicts: Array<{ pass: boolean; line: string }> = []
  const lines: string[] = []
  lines.push('# Benchmark results', '')
  lines.push(`Generated by \`npm run bench\` (bench/run.ts) on ${started.toISOString()}.`, '')
  lines.push(
    `- Node ${process.version}, ${process.platform}/${process.arch}, ${cpusAtStart} CPUs (${cpu}); load average ${load0.map((l) => l.toFixed(2)).join(' ')} at the start, ${load1.map((l) => l.toFixed(2)).join(' ')} at the end`,
    `- Cores: ${pinningNote}`,
    ...(deps ? [`- Postgres and Redis: ${deps.description}`] : []),
    S.pairing === 'simultaneous'
      ? `- Load: autocannon, pipelining 1; per case, a ${S.warmup} s warm-up of both its servers (${S.connections} connections each), then ${S.rounds} rounds in a row in which it runs ${S.duration} s at the same time as a run of its reference (the baseline, or for the tracing cases the untraced template), each with ${S.pairedConnections} connections, both servers on the same core; each case and each case's reference in a process of its own: req/s and p99 are each server's with the other beside it`
      : `- Load: autocannon, ${S.connections} connections, pipelining 1; ${S.warmup} s warm-up per case, then ${S.rounds} rounds in which each case runs ${S.duration} s next to a ${S.duration} s run of the baseline (BENCH_PAIRING=sequential: alternately before and after it, the order of the cases rotated each round)`,
    `- Verdict: the median over rounds of the per-round ratio to the baseline run paired with it (for the tracing cases: to a run of the untraced template's business route), within the target, and no error or non-2xx; IQR: Q1-Q3 of the per-round ratios`,
    '',
  )
  lines.push('## Per request', '')
  lines.push('| server | route | server CPU µs/req | vs baseline (CPU), median | IQR (Q1-Q3) | target | result | of which user µs | req/s | p99 ms | RSS after start MB | RSS under load MB (max) | errors + non-2xx |')
  lines.push('|---|---|--:|--:|--:|--:|---|--:|--:|--:|--:|--:|--:|')
  for (const r of rows) {
    const iqr = r.id === BASELINE ? '' : `${r.q1.toFixed(2)}-${x(r.q3)}`
    const of = r.against === 'the baseline' ? '' : ` (of ${r.against})`
    lines.push(
      `| ${r.label} | \`${r.path}\` | ${r.cpu.toFixed(1)} | ${x(r.ratio)}${of} | ${iqr} | ${r.limit === undefined ? '' : `<= ${x(r.limit)}`} | ${verdict(r.pass)} | ${r.user.toFixed(1)} | ${fmt(r.rps)} | ${r.p99.toFixed(2)} | ${mb(r.rssStart)} | ${mb(r.rssLoad)} | ${r.bad} |`,
    )
    if (r.limit === undefined || r.pass === undefined) continue
    // Three decimals: a median of 1.004x must not read as 1.00x next to a FAIL.
    const x3 = (n: number) => `${n.toFixed(3)}x`
    const what = `${r.label} ${r.path}: median ${x3(r.ratio)} of ${r.against} (IQR ${r.q1.toFixed(3)}-${x3(r.q3)}, ${r.ratios.length} round${r.ratios.length === 1 ? '' : 's'}), target <= ${x3(r.limit)}`
    const why = r.ratio > r.limit ? ': the median is above the target' : r.bad ? `: ${r.bad} errors or non-2xx` : ''
    // Not a failure, but a warning: a re-run could flip a verdict whose IQR spans the target.
    const spans = r.q1 <= r.limit && r.limit < r.q3 ? '; the IQR spans the target, a re-run may flip this verdict' : ''
    verdicts.push({ pass: r.pass, line: `${verdict(r.pass)} ${what}${why}${spans}` })
  }
  lines.push(
    '',
    'CPU per request: the server process\'s user + system CPU time over a run divided by the requests it completed.',
    'Ratios: the median over rounds of each run against the baseline run paired with it, and the interquartile range of those per-round ratios; the baseline\'s own figures are the median of all its runs (one with each other case, each round).',
    `RSS: the server process's VmRSS (/proc/<pid>/status) right after it reported ready, before any load, and the largest sample (every ${S.rssIntervalMs} ms) during this case's runs; every case, and every case's reference, has a process of its own (the baseline's row: its process next to the first case).`,
    '',
    'Per round: ratio to the paired baseline run (or reference run), server CPU µs/req, req/s, p99 ms.',
    '',
    `| case | ${Array.from({ length: S.rounds }, (_, i) => `round ${i + 1}`).join(' | ')} |`,
    `|---|${Array.from({ length: S.rounds }, () => '--:').join('|')}|`,
  )
  for (const r of rows.filter((row) => row.id !== BASELINE)) {
    lines.push(`| ${r.label} \`${r.path}\` | ${r.rounds.map((one, i) => `${x(r.ratios[i]!)}, ${one.cpu.toFixed(1)}, ${fmt(one.rps)}, ${one.p99.toFixed(2)}`).join(' | ')} |`)
  }
  // The template's own process (no tracing) under load: the largest sample over its routes.
  const templateRows = rows.filter((r) => cases.some((c) => c.id === r.id && c.target.startsWith('template') && c.sampled === undefined))
  const templateRssLoad = Math.max(...templateRows.map((r) => r.rssLoad).filter((v) => !Number.isNaN(v)))
  let lifecycle: { startupMs: number; readyLogMs: number; rssReady: number; shutdownMs: number; overheadMs: number } | undefined
  lines.push('', '## Start-up, memory, image and shutdown', '')
  lines.push('| measure | median | runs | goal | result |', '|---|--:|---|--:|---|')
  if (startups.length && shutdowns.length) {
    lifecycle = {
      startupMs: median(startups.map((s) => s.ms)),
      readyLogMs: median(startups.map((s) => s.readyLogMs)),
      rssReady: median(startups.map((s) => s.rss)),
      shutdownMs: median(shutdowns.map((s) => s.totalMs)),
      overheadMs: median(shutdowns.map((s) => s.overheadMs)),
    }
    lines.push(
      `| process start to first \`/ready\` 200 (dist/server.js, dependencies up) | ${fmt(lifecycle.startupMs)} ms | ${startups.map((s) => fmt(s.ms)).join(', ')} | < 1,000 ms | ${verdict(lifecycle.startupMs < 1000)} |`,
      `| the same, by the service's \`lifecycle: ready\` log (msSinceBoot) | ${fmt(lifecycle.readyLogMs)} ms | ${startups.map((s) => fmt(s.readyLogMs)).join(', ')} | | |`,
      `| RSS at the first \`/ready\` 200 (dist/server.js, before any load) | ${mb(lifecycle.rssReady)} MB | ${startups.map((s) => mb(s.rss)).join(', ')} | | |`,
    )
    verdicts.push({ pass: lifecycle.startupMs < 1000, line: `${verdict(lifecycle.startupMs < 1000)} start-up: median ${fmt(lifecycle.startupMs)} ms from process start to the first /ready 200, goal < 1,000 ms` })
  }
  if (templateRows.length) {
    lines.push(
      `| RSS of the template under load (bench/targets.ts template and template-route, largest sample over their runs) | ${mb(Number.isFinite(templateRssLoad) ? templateRssLoad : NaN)} MB | after start: ${mb((own.get('template-health') ?? own.get('template-ready') ?? own.get('template-hello'))?.rssStart ?? NaN)} MB | | |`,
    )
  }
  lines.push(`| image size (\`${IMAGE}\`) | ${image.bytes === undefined ? image.note : `${mb(image.bytes)} MB`} | ${image.bytes === undefined ? '' : `${fmt(image.bytes)} bytes, ${image.note}`} | | |`)
  if (lifecycle) {
    const codes = shutdowns.map((s) => s.code)
    const shutdownPass = lifecycle.overheadMs < 100 && codes.every((c) => c === 0)
    lines.push(
      `| SIGTERM to exit, ${S.requestMs} ms request in flight, DRAIN_DELAY_MS=${S.drainMs} | ${fmt(lifecycle.shutdownMs)} ms | ${shutdowns.map((s) => fmt(s.totalMs)).join(', ')} | | |`,
      `| of which after the drain and the request | ${fmt(lifecycle.overheadMs)} ms | ${shutdowns.map((s) => fmt(s.overheadMs)).join(', ')} | < 100 ms | ${verdict(shutdownPass)} |`,
    )
    lines.push('', `Exit codes: ${codes.join(', ')}.`)
    verdicts.push({ pass: shutdownPass, line: `${verdict(shutdownPass)} shutdown: median ${fmt(lifecycle.overheadMs)} ms after the drain and the request, goal < 100 ms, exit codes ${codes.join(', ')}` })
  } else {
    lines.push('', 'Start-up and shutdown not measured (BENCH_SKIP_LIFECYCLE=1).')
  }
  if (queries) {
    lines.push('', '## Postgres queries caused by /ready', '')
    lines.push(`Readiness \`SELECT 1\` queries counted at pg.Client's query (the check's own connection and the pool's), and rounds counted by \`readiness_rounds_total\`; cache TTL ${S.ttlMs} ms.`, '')
    lines.push('| load | /ready answered (200) | `SELECT 1` queries | readiness rounds (metric) | TTL windows | queries per TTL | target | result |')
    lines.push('|---|--:|--:|--:|--:|--:|---|---|')
    const { burst, sustained } = queries
    lines.push(
      `| ${S.readyConcurrency} concurrent, one burst | ${burst.n} (${burst.ok}) | ${burst.queries} | ${burst.rounds} | 1 | ${burst.queries} | 1 | ${verdict(burst.pass)} |`,
      `| ${S.readyConcurrency} connections, ${sustained.duration.toFixed(1)} s | ${fmt(sustained.answered)} (${fmt(sustained.ok)}) | ${sustained.queries} | ${sustained.rounds} | ${sustained.windows.toFixed(1)} | ${(sustained.queries / sustained.windows).toFixed(2)} | <= 1 (at most ${sustained.allowed} in all) | ${verdict(sustained.pass)} |`,
    )
    verdicts.push(
      { pass: burst.pass, line: `${verdict(burst.pass)} /ready burst: ${burst.queries} queries for ${burst.n} concurrent probes (${burst.ok} answered 200), target 1` },
      { pass: sustained.pass, line: `${verdict(sustained.pass)} /ready sustained: ${sustained.queries} queries over ${sustained.windows.toFixed(1)} TTL windows, at most ${sustained.allowed}` },
    )
  }
  const failed = verdicts.filter((v) => !v.pass)
  lines.push('', '## Verdict', '', ...verdicts.map((v) => `- ${v.line}`), '')
  lines.push(failed.length ? `**FAIL: ${failed.length} of ${verdicts.length} targets missed.**` : `PASS: all ${verdicts.length} targets met.`)
  lines.push('')
  const report = lines.join('\n')
  const json = {
    generated: started.toISOString(),
    node: process.version,
    cpus: cpusAtStart,
    pinning: pinning ?? null,
    pinningNote,
    loadavg: { start: load0, end: load1 },
    settings: S,
    baseline: BASELINE,
    rows: rows.map(({ rounds: _rounds, ...r }) => r),
    lifecycle,
    templateRssLoad: Number.isFinite(templateRssLoad) ? templateRssLoad : null,
    image: { name: IMAGE, ...image },
    queries,
    verdicts,
  }
  const { barChart } = (await import(new URL('./chart.ts', import.meta.url).href)) as typeof import('./chart.js')
  await writeFile(new URL('./results.md', import.meta.url), report)
  await writeFile(new URL('./results.json', import.meta.url), `${JSON.stringify(json, null, 2)}\n`)
  await writeFile(new URL('./results.svg', import.meta.url), barChart(json))
  console.log(`\n${report}`)
  log('written to bench/results.md, bench/results.json and bench/results.svg')
  // Loud, last, and in the exit code: every missed target on its own line.
  if (failed.length) {
    for (const v of failed) console.error(`[bench] ${v.line}`)
    console.error(`[bench] FAIL: ${failed.length} of ${verdicts.length} targets missed; exit code 1`)
    process.exitCode = 1
  }
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
