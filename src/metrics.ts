// Prometheus metrics: what an operator watches, on a listener of its own.
//  - The exposition is prom-client's (the ecosystem's client), on METRICS_PORT, never on
//    the public port: metrics are not for the internet, and a scrape must not queue
//    behind (or compete with) the public port's connections under load.
//  - The listener starts before initialisation, so a slow start can be watched, and
//    closes last, after the public server and the dependencies, so the drain itself can
//    be scraped. It never holds the shutdown up: its connections are cut when it closes.
//  - Per request, one histogram observation on the routes it measures, from a hook
//    attached to those routes only. Everything else (readiness, lifecycle, pool, Redis,
//    event loop) is read when Prometheus scrapes, so it costs nothing between scrapes.
//  - Probe routes are not in the request histogram: they are the hottest routes of a pod
//    (every kubelet period per replica, plus load balancers' health checks) and would
//    swamp the latency of real traffic; their outcome is in the readiness and lifecycle
//    metrics. A route opts out with `config: { metrics: false }`.
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { performance } from 'node:perf_hooks'
import type { FastifyBaseLogger, FastifyReply, FastifyRequest, HookHandlerDoneFunction, onResponseHookHandler } from 'fastify'
import fp from 'fastify-plugin'
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry, type HistogramConfiguration } from 'prom-client'
import { PHASES, type Lifecycle, type Phase } from './lifecycle.js'
import type { CheckResult, Readiness } from './readiness.js'
import { registerTracingMetrics } from './tracing-metrics.js'
import { tracing } from './tracing-state.js'

declare module 'fastify' {
  interface FastifyInstance {
    /** The registry /metrics exposes. */
    metrics: Registry
  }
  interface FastifyContextConfig {
    /** false: the route is not timed in http_request_duration_seconds. */
    metrics?: boolean
  }
}

/** What the pool gauges read: a pg.Pool. */
export interface PoolStats {
  totalCount: number
  idleCount: number
  waitingCount: number
  options: { max: number }
}

export interface MetricsOptions {
  lifecycle: Lifecycle
  readiness: Readiness
  /** The Postgres pool (plugins/postgres.ts); absent: no pg_pool_* gauges. */
  pool?: PoolStats
  /** The Redis client (plugins/redis.ts), read for its connection state; absent: no redis_connection_state. */
  redis?: { status: string }
  /** SHUTDOWN_TIMEOUT_MS, exposed so an alert can compare a shutdown's progress with it. */
  shutdownTimeoutMs: number
}

// From 1 ms: a template's trivial routes answer well under 5 ms, prom-client's first bucket.
const DURATION_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]
// ioredis' connection states, in the order it goes through them.
const REDIS_STATES = ['wait', 'connecting', 'connect', 'ready', 'reconnecting', 'close', 'end'] as const

type Observer = { observe(value: number): void }

/**
 * prom-client's Histogram (name, help, buckets, exposition, reset), with series resolved
 * once and observed with a bucket search and three additions. prom-client's labelled
 * observe validates and hashes the labels on every call: about 0.3-1 µs, the largest part
 * of what the template adds to a trivial route (docs/benchmarks.md).
 */
export class RouteHistogram<T extends string> extends Histogram<T> {
  // Not initialised here: Histogram's constructor calls reset() before subclass fields exist.
  private declare spec: { name: string; help: string }
  private declare bounds: readonly number[]
  private declare own: { labels: Record<T, string>; counts: number[]; sum: number; count: number }[]

  constructor(config: HistogramConfiguration<T> & { buckets: number[] }) {
    super(config)
    this.spec = { name: config.name, help: config.help }
    this.bounds = [...config.buckets]
    this.own = []
  }

  /** A series of these labels, for one route's hook to keep. */
  series(labels: Record<T, string>): Observer {
    const s = { labels, counts: this.bounds.map(() => 0), sum: 0, count: 0 }
    this.own.push(s)
    const { bounds } = this
    return {
      observe(value: number) {
        let i = 0
        while (i < bounds.length && value > bounds[i]!) i++
        if (i < bounds.length) s.counts[i]!++
        s.sum += value
        s.count++
      },
    }
  }

  override reset(): void {
    super.reset()
    for (const s of this.own ?? []) {
      s.counts.fill(0)
      s.sum = 0
      s.count = 0
    }
  }

  // What the registry reads for the text exposition, in prom-client's shape; series never
  // observed (or not since reset) are left out, as prom-client does.
  async getForPromString() {
    const { name, help } = this.spec
    const values = []
    for (const s of this.own) {
      if (s.count === 0) continue
      let cumulative = 0
      for (const [i, le] of this.bounds.entries()) {
        cumulative += s.counts[i]!
        values.push({ labels: { le }, sharedLabels: s.labels, value: cumulative, metricName: `${name}_bucket`, exemplar: null })
      }
      values.push(
        { labels: { le: '+Inf' }, sharedLabels: s.labels, value: s.count, metricName: `${name}_bucket`, exemplar: null },
        { labels: {}, sharedLabels: s.labels, value: s.sum, metricName: `${name}_sum` },
        { labels: {}, sharedLabels: s.labels, value: s.count, metricName: `${name}_count` },
      )
    }
    return { name, help, type: 'histogram', values, aggregator: 'sum' }
  }

  // The same as objects (Registry.getMetricsAsJSON), labels merged as prom-client does.
  override async get(): ReturnType<Histogram<T>['get']> {
    const data = await this.getForPromString()
    const values = data.values.map(({ labels, sharedLabels, ...v }) => ({ ...v, labels: { ...labels, ...sharedLabels } }))
    return { ...data, values } as unknown as Awaited<ReturnType<Histogram<T>['get']>>
  }
}

export default fp<MetricsOptions>(
  async (app, { lifecycle, readiness, pool, redis, shutdownTimeoutMs }) => {
    const registry = new Registry()
    app.decorate('metrics', registry)
    const registers = [registry]

    // Node process: CPU, memory, heap spaces, GC, event-loop delay, handles, file descriptors.
    collectDefaultMetrics({ register: registry })
    // Three of them are gauges named *_total, a suffix PromQL users (and `promtool check
    // metrics`) read as a counter; each is the sum of a per-type gauge kept here:
    // sum(nodejs_active_handles) is the open handles.
    for (const name of ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total']) registry.removeSingleMetric(name)
    // Event-loop utilisation is not among prom-client's defaults. A counter of busy time:
    // rate() of it is the utilisation over any window, whoever scrapes and however often.
    new Counter({
      name: 'nodejs_eventloop_active_seconds_total',
      help: 'Time the event loop spent busy (not idle); rate() of it is the event-loop utilisation.',
      registers,
      collect() {
        this.reset()
        this.inc(performance.eventLoopUtilization().active / 1000)
      },
    })

    // ---- HTTP -----------------------------------------------------------------------
    const duration = new RouteHistogram({
      name: 'http_request_duration_seconds',
      help: 'Time from request start to the end of the response, by method, route pattern and status code (probe routes excluded).',
      labelNames: ['method', 'route', 'status_code'] as const,
      buckets: DURATION_BUCKETS,
      registers,
    })
    // Requests served before the pod is ready are its own warm-up (startup.ts) and early
    // 503s while it starts: not traffic. Counted from ready on.
    lifecycle.onChange(({ phase }) => {
      if (phase === 'ready') duration.reset()
    })
    const shed = new Counter({
      name: 'http_requests_shed_total',
      help: 'Requests answered 503 by load shedding (event-loop or memory pressure, @fastify/under-pressure).',
      registers,
    })
    // Per route, the label set is known when the route is declared: each (method, status)
    // series is resolved once, then a request costs two lookups and one observe.
    app.addHook('onRoute', (route) => {
      const config: { metrics?: boolean } = route.config ?? {}
      if (config.metrics === false) return
      const pattern = route.url
      const byMethod = new Map<string, Observer[]>()
      const observe: onResponseHookHandler = function (req: FastifyRequest, reply: FastifyReply, done: HookHandlerDoneFunction) {
        let byStatus = byMethod.get(req.method)
        if (!byStatus) byMethod.set(req.method, (byStatus = []))
        const status = reply.statusCode
        // fastify times every reply already (from routing to 'finish'): no timer of our own.
        ;(byStatus[status] ??= duration.series({ method: req.method, route: pattern, status_code: String(status) })).observe(reply.elapsedTime / 1000)
        done()
      }
      const existing = route.onResponse
      route.onResponse = existing === undefined ? [observe] : [...(Array.isArray(existing) ? existing : [existing]), observe]
    })
    // onError hooks run on errors only: nothing per successful request.
    app.addHook('onError', (_req, _reply, err: Error & { code?: string }, done) => {
      if (err.code === 'FST_UNDER_PRESSURE') shed.inc()
      done()
    })

    // ---- readiness (read at scrape time from the last report, never running a round) --
    const checkGauge = (name: string, help: string, value: (result: CheckResult) => number) =>
      new Gauge({
        name,
        help,
        labelNames: ['check', 'critical'] as const,
        registers,
        collect() {
          this.reset()
          for (const [check, r] of Object.entries(readiness.last()?.checks ?? {})) this.set({ check, critical: String(r.critical) }, value(r))
        },
      })
    checkGauge(
      'readiness_check_up',
      'Last result of each readiness check: 1 passed, 0 failed. critical="false": a failure leaves the pod ready (degraded).',
      (r) => (r.status === 'ok' ? 1 : 0),
    )
    checkGauge('readiness_check_latency_seconds', 'How long the last run of each readiness check took (bounded by READY_CHECK_TIMEOUT_MS).', (r) => r.latencyMs / 1000)
    // Counters mirroring readiness.stats: set to the running totals at scrape time.
    const mirror = (name: string, help: string, read: () => number) =>
      new Counter({
        name,
        help,
        registers,
        collect() {
          this.reset()
          this.inc(read())
        },
      })
    mirror('readiness_rounds_total', 'Rounds of readiness checks run (each runs every check once): at most one per READY_CACHE_TTL_MS, however many probes.', () => readiness.stats.rounds)
    mirror('readiness_cache_hits_total', 'Readiness probes answered from the cached report, without running the checks.', () => readiness.stats.cacheHits)

    // ---- lifecycle ----------------------------------------------------------------------
    // Seconds spent in each phase: final for past phases, growing for the current one.
    // At shutdown, draining is the drain delay and closing how long in-flight requests
    // and the dependencies took to close.
    // `starting` counts from process start (performance.now()'s origin), module loading included.
    const spent = new Map<Phase, number>()
    let since = 0
    lifecycle.onChange(({ previous }) => {
      const now = performance.now()
      spent.set(previous, (spent.get(previous) ?? 0) + (now - since) / 1000)
      since = now
    })
    // A state as one series per possible value, 1 for the current one: the usual encoding,
    // so `lifecycle_phase{phase="ready"} == 0` and friends need no string matching.
    const stateGauge = (name: string, help: string, label: string, states: readonly string[], current: () => string) =>
      new Gauge({
        name,
        help,
        labelNames: [label],
        registers,
        collect() {
          for (const state of states) this.set({ [label]: state }, current() === state ? 1 : 0)
        },
      })
    stateGauge('lifecycle_phase', 'The process lifecycle phase: 1 for the current one (starting, ready, draining, closing, closed).', 'phase', PHASES, () => lifecycle.phase)
    new Gauge({
      name: 'lifecycle_phase_seconds',
      help: 'Seconds spent in each lifecycle phase so far; at shutdown, how long the drain (draining) and the close (closing) took.',
      labelNames: ['phase'] as const,
      registers,
      collect() {
        this.reset()
        for (const [phase, seconds] of spent) this.set({ phase }, seconds)
        this.set({ phase: lifecycle.phase }, (spent.get(lifecycle.phase) ?? 0) + (performance.now() - since) / 1000)
      },
    })
    new Gauge({
      name: 'lifecycle_shutdown_timeout_seconds',
      help: 'SHUTDOWN_TIMEOUT_MS: a shutdown still running past it exits 1 (draining + closing seconds approaching it is a shutdown about to hit its deadline).',
      registers,
    }).set(shutdownTimeoutMs / 1000)

    // ---- dependencies ---------------------------------------------------------------------
    const poolGauge = (name: string, help: string, read: () => number) =>
      new Gauge({
        name,
        help,
        registers,
        collect() {
          this.set(read())
        },
      })
    if (pool) {
      poolGauge('pg_pool_clients', 'Postgres connections open in the pool (idle and in use).', () => pool.totalCount)
      poolGauge('pg_pool_idle_clients', 'Postgres connections open and idle in the pool.', () => pool.idleCount)
      poolGauge('pg_pool_waiting_requests', 'Queries waiting for a pool connection (the pool is at PG_POOL_MAX).', () => pool.waitingCount)
      poolGauge('pg_pool_max_clients', 'PG_POOL_MAX: the most connections the pool opens.', () => pool.options.max)
    }
    if (redis) stateGauge('redis_connection_state', 'The Redis client connection state: 1 for the current one (ready is connected).', 'state', REDIS_STATES, () => redis.status)

    // ---- tracing (only when on: the preload started it) -------------------------------------
    const traces = tracing()
    if (traces) registerTracingMetrics(registry, traces)
  },
  // No plugin dependencies: the pool and the client come in as options, whoever decorates them.
  { name: 'metrics' },
)

export interface MetricsServerOptions {
  port: number
  host: string
  registry: Registry
  log: FastifyBaseLogger
}

export interface MetricsServer {
  port: number
  /** Stops listening and cuts open scrapes: never a reason for a shutdown to wait. */
  close(): Promise<void>
}

/**
 * GET /metrics on a listener of its own (node:http: one route, no framework needed).
 * Resolves once listening; rejects when the port cannot be bound.
 */
export async function startMetricsServer({ port, host, registry, log }: MetricsServerOptions): Promise<MetricsServer> {
  const server: Server = createServer((req, res) => {
    if (req.url?.split('?')[0] !== '/metrics' || (req.method !== 'GET' && req.method !== 'HEAD')) {
      res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' }).end('Not Found: metrics are at GET /metrics\n')
      return
    }
    registry.metrics().then(
      (text) => res.writeHead(200, { 'content-type': registry.contentType, 'cache-control': 'no-store' }).end(req.method === 'HEAD' ? undefined : text),
      (err: unknown) => {
        log.error({ err }, 'metrics: collection failed')
        res.writeHead(500, { 'content-type': 'text/plain; charset=utf-8' }).end('metrics collection failed\n')
      },
    )
  })
  // Scrapers keep their connection open between scrapes; idle ones must not outlive a
  // scrape interval for nothing (Prometheus reconnects as needed).
  server.keepAliveTimeout = 65_000
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(port, host, () => {
      server.off('error', reject)
      resolve()
    })
  })
  const bound = (server.address() as AddressInfo).port
  log.info({ port: bound, host }, `metrics: listening at http://${host.includes(':') ? `[${host}]` : host}:${bound}/metrics`)
  return {
    port: bound,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve())
        server.closeAllConnections()
      }),
  }
}
