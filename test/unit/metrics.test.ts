// Metrics through the real registry, scraped from the real metrics listener, with fake
// readiness checks standing in for Postgres and Redis (test/integration/metrics.test.ts
// has the real dependencies and a real Prometheus). Each metric is made to change.
import { request as httpRequest, Agent } from 'node:http'
import { setTimeout as sleep } from 'node:timers/promises'
import type { FastifyInstance } from 'fastify'
import { Histogram, Registry } from 'prom-client'
import { afterEach, describe, expect, it } from 'vitest'
import { buildApp } from '../../src/app.js'
import { loadConfig } from '../../src/config.js'
import { ConfigError } from '../../src/env.js'
import { RouteHistogram, startMetricsServer, type MetricsServer } from '../../src/metrics.js'
import type { Check } from '../../src/readiness.js'
import fixtureRoutes from '../fixtures/routes.js'
import { promtool, sample, samples } from '../helpers/metrics.js'

// Nothing listens on port 1: the real plugins stay unconnected; the checks are fakes.
// Event-loop delay shedding off: under a loaded test machine a starved worker's samples
// would shed requests these tests do not test shedding with (the pressure tests set it).
const env = { DATABASE_URL: 'postgres://app:s3cret@127.0.0.1:1/app', REDIS_URL: 'redis://127.0.0.1:1', LOG_LEVEL: 'silent', READY_CACHE_TTL_MS: '0', MAX_EVENT_LOOP_DELAY_MS: '0' }
const ok = (name: string, critical?: boolean): Check => ({ name, critical, run: async () => {} })

let app: FastifyInstance
let server: MetricsServer | undefined
async function build(checks: Check[], extraEnv: Record<string, string> = {}, { started = false } = {}) {
  app = await buildApp(loadConfig({ ...env, ...extraEnv }), { checks, routes: [fixtureRoutes] })
  await app.ready()
  // Business routes answer 503 until initialisation completes.
  if (started) app.lifecycle.enter('ready')
  if (app.hasDecorator('metrics')) server = await startMetricsServer({ port: 0, host: '127.0.0.1', registry: app.metrics, log: app.log })
  return app
}
afterEach(async () => {
  await server?.close()
  server = undefined
  await app?.close()
})

const get = (url: string, headers: Record<string, string> = {}) => app.inject({ method: 'GET', url, headers })
async function scrape(): Promise<string> {
  const res = await fetch(`http://127.0.0.1:${server!.port}/metrics`)
  expect(res.status).toBe(200)
  return res.text()
}
const until = async (what: string, cond: () => boolean | Promise<boolean>, timeoutMs = 15_000) => {
  const end = performance.now() + timeoutMs
  while (!(await cond())) {
    if (performance.now() > end) throw new Error(`${what}: not within ${timeoutMs} ms`)
    await sleep(50)
  }
}

describe('the metrics listener', () => {
  it('serves GET and HEAD /metrics in the Prometheus text format, 404 for anything else; the public port has no /metrics', async () => {
    await build([ok('postgres'), ok('redis', false)], {}, { started: true })
    const res = await fetch(`http://127.0.0.1:${server!.port}/metrics`)
    expect(res.status).toBe(200)
    expect(res.headers.get('content-type')).toBe('text/plain; version=0.0.4; charset=utf-8')
    expect(res.headers.get('cache-control')).toBe('no-store')
    expect(await res.text()).toMatch(/^# HELP /m)
    const head = await fetch(`http://127.0.0.1:${server!.port}/metrics`, { method: 'HEAD' })
    expect(head.status).toBe(200)
    expect((await fetch(`http://127.0.0.1:${server!.port}/`)).status).toBe(404)
    expect((await fetch(`http://127.0.0.1:${server!.port}/health`)).status).toBe(404)
    expect((await fetch(`http://127.0.0.1:${server!.port}/metrics`, { method: 'POST' })).status).toBe(404)
    // Never on the public port.
    expect((await get('/metrics')).statusCode).toBe(404)
  })

  it('close() cuts open scrape connections at once: it never holds a shutdown up', async () => {
    await build([ok('postgres'), ok('redis', false)])
    const agent = new Agent({ keepAlive: true })
    const status = await new Promise<number>((resolve, reject) =>
      httpRequest({ host: '127.0.0.1', port: server!.port, path: '/metrics', agent }, (res) => {
        res.resume()
        res.on('end', () => resolve(res.statusCode ?? 0))
      })
        .on('error', reject)
        .end(),
    )
    expect(status).toBe(200)
    // A keep-alive connection is open (as Prometheus keeps one between scrapes).
    const open = Object.values(agent.freeSockets).flat()
    expect(open.length).toBe(1)
    const closed = new Promise((resolve) => open[0]!.once('close', resolve))
    const started = performance.now()
    await server!.close()
    await closed
    // Well under the server's 65 s keep-alive timeout, which close() alone would wait for.
    expect(performance.now() - started).toBeLessThan(2000)
    server = undefined
    agent.destroy()
  })

  it('METRICS_PORT=0: no registry, no per-request hook, no listener to start', async () => {
    await build([ok('postgres'), ok('redis', false)], { METRICS_PORT: '0' }, { started: true })
    expect(app.hasDecorator('metrics')).toBe(false)
    expect(server).toBeUndefined()
    expect((await get('/fixture/slow?ms=0')).statusCode).toBe(200)
  })
})

describe('HTTP requests', () => {
  it('times business requests by method, route pattern and status code, never the raw URL', async () => {
    await build([ok('postgres'), ok('redis', false)], {}, { started: true })
    const count = (text: string, route: string, status: string) =>
      sample(text, 'http_request_duration_seconds_count', { method: 'GET', route, status_code: status }) ?? 0
    const before = await scrape()
    expect(count(before, '/fixture/slow', '200')).toBe(0)
    expect((await get('/fixture/slow?ms=0')).statusCode).toBe(200)
    expect((await get('/fixture/slow?ms=20&token=secret-1')).statusCode).toBe(200)
    expect((await get('/fixture/items/abc')).statusCode).toBe(400)
    // Postgres unreachable (port 1): a dependency failure, 503.
    expect((await get('/fixture/items/12345')).statusCode).toBe(503)
    const after = await scrape()
    expect(count(after, '/fixture/slow', '200')).toBe(2)
    expect(count(after, '/fixture/items/:id', '400')).toBe(1)
    expect(count(after, '/fixture/items/:id', '503')).toBe(1)
    // The 20 ms request is in the buckets above 10 ms, the 0 ms one below.
    expect(sample(after, 'http_request_duration_seconds_bucket', { method: 'GET', route: '/fixture/slow', status_code: '200', le: '0.01' })).toBe(1)
    expect(sample(after, 'http_request_duration_seconds_sum', { method: 'GET', route: '/fixture/slow', status_code: '200' })).toBeGreaterThanOrEqual(0.02)
    // Pattern, not URL: no id, no query string, no secret in any label.
    const routes = new Set(samples(after, 'http_request_duration_seconds_count').map((s) => s.labels.route))
    expect([...routes].sort()).toEqual(['/fixture/items/:id', '/fixture/slow'])
    expect(after).not.toMatch(/abc|12345|secret-1|\?/)
  })

  it('requests before ready (the warm-up, early 503s) are not counted as traffic', async () => {
    await build([ok('postgres'), ok('redis', false)])
    const count = async () => sample(await scrape(), 'http_request_duration_seconds_count', { method: 'GET', route: '/fixture/slow', status_code: '200' }) ?? 0
    app.lifecycle.serving = true
    expect((await get('/fixture/slow?ms=0')).statusCode).toBe(200)
    expect(await count()).toBe(1)
    app.lifecycle.enter('ready')
    expect(await count()).toBe(0)
    expect((await get('/fixture/slow?ms=0')).statusCode).toBe(200)
    expect(await count()).toBe(1)
  })

  it('probe routes are not timed (the hottest routes would swamp real traffic)', async () => {
    await build([ok('postgres'), ok('redis', false)])
    app.lifecycle.enter('ready')
    for (let i = 0; i < 5; i++) for (const path of ['/health', '/ready', '/startup']) expect((await get(path)).statusCode).toBe(200)
    expect((await get('/fixture/slow?ms=0')).statusCode).toBe(200)
    const routes = samples(await scrape(), 'http_request_duration_seconds_count').map((s) => s.labels.route)
    expect(routes).toEqual(['/fixture/slow'])
  })

  it('the event stream is not timed (it lasts as long as the client stays), and ends on the drain', async () => {
    await build([ok('postgres'), ok('redis', false)])
    app.lifecycle.enter('ready')
    const stream = get('/fixture/stream?intervalMs=100', { accept: 'text/event-stream' })
    await new Promise((r) => setTimeout(r, 250))
    app.lifecycle.enter('draining')
    const res = await stream
    expect(res.statusCode).toBe(200)
    expect(res.body).toMatch(/event: tick[\s\S]*event: shutdown\ndata: \{"reconnect":true\}\n\n$/)
    expect(samples(await scrape(), 'http_request_duration_seconds_count')).toEqual([])
  })

  it('counts requests shed under pressure; probes are neither shed nor counted', async () => {
    // A 1-byte heap limit puts the process under pressure at every sample (one a second).
    await build([ok('postgres'), ok('redis', false)], { MAX_HEAP_USED_BYTES: '1' })
    app.lifecycle.enter('ready')
    expect(sample(await scrape(), 'http_requests_shed_total')).toBe(0)
    await until('first pressured sample', () => app.isUnderPressure())
    const shed = await get('/fixture/slow?ms=0')
    expect(shed.statusCode).toBe(503)
    // The request id survives shedding (set on arrival).
    expect(shed.headers['x-request-id']).toMatch(/^[0-9a-f]{16}-[0-9a-z]+$/)
    expect((await get('/fixture/slow?ms=0')).statusCode).toBe(503)
    expect((await get('/health')).statusCode).toBe(200)
    const text = await scrape()
    expect(sample(text, 'http_requests_shed_total')).toBe(2)
    expect(sample(text, 'http_request_duration_seconds_count', { method: 'GET', route: '/fixture/slow', status_code: '503' })).toBe(2)
  })

  it('a 404 still carries the request id', async () => {
    await build([ok('postgres'), ok('redis', false)], {}, { started: true })
    const res = await get('/nope', { 'x-request-id': 'abc-404' })
    expect(res.statusCode).toBe(404)
    expect(res.headers['x-request-id']).toBe('abc-404')
  })
})

describe('readiness', () => {
  it('per check: up, latency of the last run and critical; rounds run and cache hits; a scrape never runs a round', async () => {
    let postgresUp = true
    const postgres: Check = {
      name: 'postgres',
      run: async () => {
        await sleep(30)
        if (!postgresUp) throw Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' })
      },
    }
    await build([postgres, ok('redis', false)], { READY_CACHE_TTL_MS: '300' })
    app.lifecycle.enter('ready')
    // No report yet: no per-check series (nothing is known), zero rounds.
    let text = await scrape()
    expect(samples(text, 'readiness_check_up')).toEqual([])
    expect(sample(text, 'readiness_rounds_total')).toBe(0)

    expect((await get('/ready')).statusCode).toBe(200)
    for (let i = 0; i < 3; i++) expect((await get('/ready')).statusCode).toBe(200)
    text = await scrape()
    expect(sample(text, 'readiness_check_up', { check: 'postgres', critical: 'true' })).toBe(1)
    expect(sample(text, 'readiness_check_up', { check: 'redis', critical: 'false' })).toBe(1)
    expect(sample(text, 'readiness_check_latency_seconds', { check: 'postgres', critical: 'true' })).toBeGreaterThanOrEqual(0.025)
    expect(sample(text, 'readiness_rounds_total')).toBe(1)
    expect(sample(text, 'readiness_cache_hits_total')).toBe(3)

    postgresUp = false
    await sleep(350)
    // Scrapes alone run nothing: the report stays the last one the probes caused.
    for (let i = 0; i < 3; i++) text = await scrape()
    expect(sample(text, 'readiness_rounds_total')).toBe(1)
    expect(sample(text, 'readiness_check_up', { check: 'postgres', critical: 'true' })).toBe(1)
    expect((await get('/ready')).statusCode).toBe(503)
    text = await scrape()
    expect(sample(text, 'readiness_check_up', { check: 'postgres', critical: 'true' })).toBe(0)
    expect(sample(text, 'readiness_rounds_total')).toBe(2)

    postgresUp = true
    await sleep(350)
    expect((await get('/ready')).statusCode).toBe(200)
    expect(sample(await scrape(), 'readiness_check_up', { check: 'postgres', critical: 'true' })).toBe(1)
  })

  it('a failing non-critical check is down with critical="false"', async () => {
    await build([ok('postgres'), { name: 'redis', critical: false, run: () => Promise.reject(new Error('NOAUTH')) }])
    app.lifecycle.enter('ready')
    expect((await get('/ready')).statusCode).toBe(200)
    const text = await scrape()
    expect(sample(text, 'readiness_check_up', { check: 'redis', critical: 'false' })).toBe(0)
    expect(sample(text, 'readiness_check_up', { check: 'postgres', critical: 'true' })).toBe(1)
  })
})

describe('lifecycle', () => {
  it('the current phase, and seconds spent in each: the drain and the close measured at shutdown', async () => {
    await build([ok('postgres'), ok('redis', false)], { SHUTDOWN_TIMEOUT_MS: '12000', DRAIN_DELAY_MS: '100' })
    const phase = (text: string) => samples(text, 'lifecycle_phase').filter((s) => s.value === 1).map((s) => s.labels.phase)
    const seconds = (text: string, p: string) => sample(text, 'lifecycle_phase_seconds', { phase: p })
    /** A scrape that shows `p` as the one current phase. */
    const scrapeIn = async (p: string) => {
      const text = await scrape()
      expect(phase(text)).toEqual([p])
      return text
    }
    let text = await scrapeIn('starting')
    expect(sample(text, 'lifecycle_shutdown_timeout_seconds')).toBe(12)
    // `starting` counts from process start: module loading included.
    expect(seconds(text, 'starting')).toBeGreaterThan(0)

    app.lifecycle.enter('ready')
    text = await scrapeIn('ready')
    const started = seconds(text, 'starting')!
    await sleep(20)
    expect(seconds(await scrape(), 'starting')).toBe(started)

    app.lifecycle.enter('draining')
    await sleep(120)
    text = await scrapeIn('draining')
    expect(seconds(text, 'draining')).toBeGreaterThanOrEqual(0.1)

    app.lifecycle.enter('closing')
    text = await scrapeIn('closing')
    const drained = seconds(text, 'draining')!
    await sleep(60)
    text = await scrape()
    expect(seconds(text, 'draining')).toBe(drained)
    expect(seconds(text, 'closing')).toBeGreaterThanOrEqual(0.05)
  })
})

describe('dependencies and the process', () => {
  it('Postgres pool and Redis client state (before connecting: an empty pool, Redis waiting)', async () => {
    await build([ok('postgres'), ok('redis', false)], { PG_POOL_MAX: '7' })
    const text = await scrape()
    // One of PG_POOL_MAX is the readiness check's own connection, outside the pool.
    expect(sample(text, 'pg_pool_max_clients')).toBe(6)
    expect(sample(text, 'pg_pool_clients')).toBe(0)
    expect(sample(text, 'pg_pool_idle_clients')).toBe(0)
    expect(sample(text, 'pg_pool_waiting_requests')).toBe(0)
    expect(samples(text, 'redis_connection_state').filter((s) => s.value === 1).map((s) => s.labels.state)).toEqual(['wait'])
  })

  it('Node process metrics: CPU, heap, GC, event-loop delay and utilisation, handles', async () => {
    await build([ok('postgres'), ok('redis', false)])
    const first = await scrape()
    // Busy for a while: CPU and event-loop busy time grow, garbage gets collected.
    const until = performance.now() + 150
    let junk: unknown[] = []
    while (performance.now() < until) junk = [...junk.slice(-1000), { a: Math.random() }, new Array(64).fill(0)]
    await sleep(50)
    const second = await scrape()
    expect(junk.length).toBeGreaterThan(0)
    expect(sample(second, 'process_cpu_seconds_total')!).toBeGreaterThan(sample(first, 'process_cpu_seconds_total')!)
    expect(sample(second, 'nodejs_eventloop_active_seconds_total')! - sample(first, 'nodejs_eventloop_active_seconds_total')!).toBeGreaterThanOrEqual(0.1)
    expect(sample(second, 'nodejs_heap_size_used_bytes')).toBeGreaterThan(0)
    expect(samples(second, 'nodejs_gc_duration_seconds_count').reduce((n, s) => n + s.value, 0)).toBeGreaterThan(0)
    expect(sample(second, 'nodejs_eventloop_lag_p99_seconds')).toBeGreaterThanOrEqual(0)
    // The metrics listener itself is an open handle.
    expect(samples(second, 'nodejs_active_handles').reduce((n, s) => n + s.value, 0)).toBeGreaterThan(0)
  })

  it('promtool check metrics finds no problems in the exposition', async () => {
    await build([ok('postgres'), ok('redis', false)], { MAX_HEAP_USED_BYTES: '1' })
    app.lifecycle.enter('ready')
    await get('/ready')
    await get('/fixture/slow?ms=0')
    await until('first pressured sample', () => app.isUnderPressure())
    await get('/fixture/slow?ms=0')
    const text = await scrape()
    const { code, output } = await promtool(['check', 'metrics'], text)
    expect(output).toBe('')
    expect(code).toBe(0)
  })
})

describe('METRICS_PORT', () => {
  const config = (extra: Record<string, string>) => loadConfig({ ...env, ...extra })
  it('defaults to 9464; 0 turns metrics off', () => {
    expect(config({}).metricsPort).toBe(9464)
    expect(config({ METRICS_PORT: '0' }).metricsPort).toBe(0)
    expect(config({ METRICS_PORT: '9100' }).metricsPort).toBe(9100)
  })
  it.each(['abc', '-1', '65536', '9464.5'])('rejects %s naming the variable', (value) => {
    expect(() => config({ METRICS_PORT: value })).toThrow(ConfigError)
    expect(() => config({ METRICS_PORT: value })).toThrow(/^METRICS_PORT=/)
  })
  it('must differ from PORT (metrics stay off the public port)', () => {
    expect(() => config({ PORT: '8000', METRICS_PORT: '8000' })).toThrow(/METRICS_PORT=8000: must differ from PORT/)
    expect(config({ PORT: '0', METRICS_PORT: '0' }).metricsPort).toBe(0)
  })
})

describe('the request histogram', () => {
  it("exposes what prom-client's own Histogram exposes for the same observations, and resets the same", async () => {
    const config = { name: 'd', help: 'h', labelNames: ['method', 'route'] as const, buckets: [0.001, 0.005, 0.1] }
    const ours = new Registry()
    const theirs = new Registry()
    const fast = new RouteHistogram({ ...config, registers: [ours] })
    const plain = new Histogram({ ...config, registers: [theirs] })
    const get = fast.series({ method: 'GET', route: '/a' })
    fast.series({ method: 'POST', route: '/a' }) // never observed: not exposed
    for (const v of [0, 0.001, 0.0011, 0.005, 0.05, 0.1, 3]) {
      get.observe(v)
      plain.labels('GET', '/a').observe(v)
    }
    const text = await theirs.metrics()
    expect(text).toContain('d_bucket{le="0.001",method="GET",route="/a"} 2')
    expect(await ours.metrics()).toBe(text)
    expect(await ours.getMetricsAsJSON()).toEqual(await theirs.getMetricsAsJSON())
    fast.reset()
    plain.reset()
    expect(await ours.metrics()).toBe(await theirs.metrics())
    get.observe(0.2)
    expect(await ours.metrics()).toContain('d_count{method="GET",route="/a"} 1')
  })
})
