// Probe contract through inject(), with fake checks standing in for Postgres and Redis
// (the real dependencies are exercised in test/integration).
import type { FastifyInstance } from 'fastify'
import { afterEach, describe, expect, it } from 'vitest'
import { buildApp } from '../../src/app.js'
import { loadConfig } from '../../src/config.js'
import type { Check } from '../../src/readiness.js'
import fixtureRoutes from '../fixtures/routes.js'

// Nothing listens on port 1: the real plugins stay unconnected; the checks are fakes.
// Event-loop delay shedding off: under a loaded test machine a starved worker's samples
// would shed requests these tests do not test shedding with (the pressure tests set it).
const env = { DATABASE_URL: 'postgres://app:s3cret@127.0.0.1:1/app', REDIS_URL: 'redis://127.0.0.1:1', LOG_LEVEL: 'silent', READY_CACHE_TTL_MS: '0', MAX_EVENT_LOOP_DELAY_MS: '0' }
const ok = (name: string): Check => ({ name, run: async () => {} })
const failing = (name: string, message: string, code?: string, critical?: boolean): Check => ({
  name,
  critical,
  run: () => Promise.reject(Object.assign(new Error(message), code ? { code } : {})),
})

let app: FastifyInstance
async function build(checks: Check[], extraEnv: Record<string, string> = {}) {
  app = await buildApp(loadConfig({ ...env, ...extraEnv }), { checks, routes: [fixtureRoutes] })
  await app.ready()
  return app
}
afterEach(async () => {
  await app?.close()
})

const get = (url: string, headers: Record<string, string> = {}) => app.inject({ method: 'GET', url, headers })

describe('probes', () => {
  it('before startup: /health 200, /startup and /ready 503', async () => {
    await build([ok('postgres'), ok('redis')])
    expect((await get('/health')).statusCode).toBe(200)
    const startup = await get('/startup')
    expect(startup.statusCode).toBe(503)
    expect(startup.json()).toEqual({ status: 'starting' })
    const ready = await get('/ready')
    expect(ready.statusCode).toBe(503)
    expect(ready.json()).toEqual({ status: 'not ready', reason: 'starting' })
  })

  it('after startup: 200 with each check and its latency', async () => {
    await build([ok('postgres'), ok('redis')])
    app.lifecycle.enter('ready')
    expect((await get('/startup')).statusCode).toBe(200)
    const ready = await get('/ready')
    expect(ready.statusCode).toBe(200)
    expect(ready.json()).toMatchObject({
      status: 'ready',
      checks: { postgres: { status: 'ok', latencyMs: expect.any(Number) as number }, redis: { status: 'ok' } },
    })
  })

  it('a failed critical dependency makes /ready 503 naming it and a short cause; /health stays 200', async () => {
    await build([failing('postgres', 'connect ECONNREFUSED 10.1.2.3:5432', 'ECONNREFUSED'), ok('redis')])
    app.lifecycle.enter('ready')
    const ready = await get('/ready')
    expect(ready.statusCode).toBe(503)
    expect(ready.json()).toMatchObject({
      status: 'not ready',
      reason: 'postgres: connection refused',
      checks: { postgres: { status: 'fail', critical: true }, redis: { status: 'ok' } },
    })
    expect(ready.body).not.toMatch(/10\.1\.2\.3|5432/)
    expect((await get('/health')).statusCode).toBe(200)
  })

  it('a failed non-critical dependency (the cache) keeps /ready 200, reported degraded', async () => {
    await build([ok('postgres'), failing('redis', 'connect ECONNREFUSED 10.1.2.4:6379', 'ECONNREFUSED', false)])
    app.lifecycle.enter('ready')
    const ready = await get('/ready')
    expect(ready.statusCode).toBe(200)
    expect(ready.json()).toEqual({
      status: 'ready',
      degraded: true,
      degradedReason: 'redis: connection refused',
      checks: { postgres: { status: 'ok', critical: true, latencyMs: expect.any(Number) as number }, redis: { status: 'fail', critical: false, latencyMs: expect.any(Number) as number, reason: 'connection refused' } },
    })
    // Both failing: 503 for the critical one, the degraded one still reported.
    await app.close()
    await build([failing('postgres', 'timeout', 'ETIMEDOUT'), failing('redis', 'x', 'ECONNREFUSED', false)])
    app.lifecycle.enter('ready')
    expect((await get('/ready')).json()).toMatchObject({ status: 'not ready', reason: 'postgres: timeout', degraded: true, degradedReason: 'redis: connection refused' })
  })

  it('from the shutdown signal on: /ready 503, /health and /startup still 200', async () => {
    await build([ok('postgres'), ok('redis')])
    app.lifecycle.enter('ready')
    app.lifecycle.enter('draining')
    const ready = await get('/ready')
    expect(ready.statusCode).toBe(503)
    expect(ready.json()).toEqual({ status: 'not ready', reason: 'shutting down' })
    expect((await get('/health')).statusCode).toBe(200)
    expect((await get('/startup')).statusCode).toBe(200)
  })

  it.each(['/health', '/startup', '/ready'])('%s: HEAD, query strings, no-store, JSON', async (path) => {
    await build([ok('postgres'), ok('redis')])
    app.lifecycle.enter('ready')
    const head = await app.inject({ method: 'HEAD', url: `${path}?probe=kubelet&x=1` })
    expect(head.statusCode).toBe(200)
    expect(head.body).toBe('')
    const res = await get(`${path}?probe=kubelet`)
    expect(res.statusCode).toBe(200)
    expect(res.headers['cache-control']).toBe('no-store')
    expect(res.headers['content-type']).toMatch(/^application\/json/)
  })

  it('bodies carry no connection strings, user names, hosts or stack traces', async () => {
    await build([failing('postgres', 'password authentication failed for user "app_owner" at postgres://app_owner:s3cret@db.internal/app', '28P01'), ok('redis')])
    app.lifecycle.enter('ready')
    const body = (await get('/ready')).body
    expect(body).not.toMatch(/s3cret|app_owner|db\.internal|postgres:\/\/|\bat .*\.js:\d+/)
    expect(body).toContain('"reason":"postgres: auth failed"')
  })
})

describe('load shedding', () => {
  // A 1-byte heap limit puts the process under pressure at every sample (one a second).
  const pressure = { MAX_HEAP_USED_BYTES: '1' }
  const waitFor = async (what: string, cond: () => boolean | Promise<boolean>, timeoutMs = 15_000) => {
    const end = performance.now() + timeoutMs
    while (!(await cond())) {
      if (performance.now() > end) throw new Error(`${what}: not within ${timeoutMs} ms`)
      await new Promise((r) => setTimeout(r, 50))
    }
  }

  it('by default, load on the pod itself never fails readiness: sustained pressure sheds business routes, /ready stays 200', async () => {
    await build([ok('postgres'), ok('redis')], pressure)
    app.lifecycle.enter('ready')
    await waitFor('first pressured sample', () => app.isUnderPressure())
    // Five samples in a row under pressure (one a second): well past any hysteresis.
    for (let i = 0; i < 5; i++) {
      await new Promise((r) => setTimeout(r, 1000))
      expect(app.isUnderPressure()).toBe(true)
      const shed = await get('/fixture/slow?ms=0')
      expect(shed.statusCode).toBe(503)
      expect(shed.headers['retry-after']).toBe('5')
      expect((await get('/ready')).statusCode).toBe(200)
      expect((await get('/health')).statusCode).toBe(200)
    }
  })

  it('READY_PRESSURE_SAMPLES=3: sheds business routes at once, never the probes; /ready turns 503 only once pressure is sustained', async () => {
    await build([ok('postgres'), ok('redis')], { ...pressure, READY_PRESSURE_SAMPLES: '3' })
    app.lifecycle.enter('ready')
    await waitFor('first pressured sample', () => app.isUnderPressure())
    const shed = await get('/fixture/slow?ms=0')
    expect(shed.statusCode).toBe(503)
    expect(shed.headers['retry-after']).toBeDefined()
    // One sample is not sustained pressure: still in the Service.
    expect((await get('/ready')).statusCode).toBe(200)
    expect((await get('/health')).statusCode).toBe(200)
    expect((await get('/startup')).statusCode).toBe(200)
    // READY_PRESSURE_SAMPLES (3) samples in a row: out.
    await waitFor('/ready 503 under sustained pressure', async () => (await get('/ready')).statusCode === 503)
    expect((await get('/ready')).json()).toMatchObject({ status: 'not ready', reason: 'under pressure' })
    expect((await get('/health')).statusCode).toBe(200)
  })
})

describe('event-loop pressure', () => {
  const block = (ms: number) => {
    const until = performance.now() + ms
    while (performance.now() < until) {
      /* a synchronous hot path, a runaway JSON.parse */
    }
  }

  it('READY_PRESSURE_SAMPLES=3: a single blocked second sheds business routes but leaves /ready 200; a sustained one makes it 503 while /health answers', async () => {
    await build([ok('postgres'), ok('redis')], { MAX_EVENT_LOOP_DELAY_MS: '50', MAX_EVENT_LOOP_UTILIZATION: '0', READY_PRESSURE_SAMPLES: '3' })
    app.lifecycle.enter('ready')
    expect((await get('/ready')).statusCode).toBe(200)
    // Short bursts until one sampled window shows the delay; read the probes within it.
    let blip: { ready: number; api: number } | undefined
    for (let i = 0; i < 50 && !blip; i++) {
      block(200)
      await new Promise((r) => setTimeout(r, 20))
      if (!app.isUnderPressure()) continue
      const [ready, api] = await Promise.all([get('/ready'), get('/fixture/slow?ms=0')])
      if (app.isUnderPressure()) blip = { ready: ready.statusCode, api: api.statusCode }
    }
    expect(blip).toEqual({ ready: 200, api: 503 })
    // Keep the loop blocked sample after sample: /ready follows, /health never fails.
    let sustained: { ready: Awaited<ReturnType<typeof get>>; health: number } | undefined
    for (let i = 0; i < 100 && !sustained; i++) {
      block(200)
      await new Promise((r) => setTimeout(r, 10))
      const [ready, health] = await Promise.all([get('/ready'), get('/health')])
      expect(health.statusCode).toBe(200)
      if (ready.statusCode === 503) sustained = { ready, health: health.statusCode }
    }
    expect(sustained?.ready.json()).toMatchObject({ status: 'not ready', reason: 'under pressure' })
  })
})

describe('requests', () => {
  it('echoes a well-formed x-request-id and replaces a malformed one', async () => {
    await build([ok('postgres'), ok('redis')])
    expect((await get('/health', { 'x-request-id': 'abc-123' })).headers['x-request-id']).toBe('abc-123')
    const replaced = (await get('/health', { 'x-request-id': 'bad id\nwith newline' })).headers['x-request-id']
    expect(replaced).toMatch(/^[0-9a-f]{16}-[0-9a-z]+$/)
  })

  it('bad input gets 4xx JSON', async () => {
    await build([ok('postgres'), ok('redis')])
    app.lifecycle.enter('ready')
    const bad = await app.inject({ method: 'POST', url: '/fixture/echo', payload: { nope: 1 } })
    expect(bad.statusCode).toBe(400)
    expect(bad.json()).toMatchObject({ statusCode: 400, error: 'Bad Request', message: expect.stringContaining('name') as string })
    const badJson = await app.inject({ method: 'POST', url: '/fixture/echo', headers: { 'content-type': 'application/json' }, payload: '{"name":' })
    expect(badJson.statusCode).toBe(400)
    expect(badJson.json()).toMatchObject({ statusCode: 400, error: 'Bad Request' })
    const badId = await get('/fixture/items/abc')
    expect(badId.statusCode).toBe(400)
    const slow = await get('/fixture/slow?ms=999999')
    expect(slow.statusCode).toBe(400)
    const missing = await get('/nope?token=x')
    expect(missing.statusCode).toBe(404)
    expect(missing.json()).toEqual({ statusCode: 404, error: 'Not Found', message: 'Route GET /nope not found' })
  })

  it('before initialisation completes, business routes answer 503 with Retry-After; probes answer for themselves, unknown routes 404', async () => {
    await build([ok('postgres'), ok('redis')])
    expect((await get('/nope')).statusCode).toBe(404)
    for (const url of ['/fixture/db', '/fixture/items/1']) {
      const res = await get(url)
      expect(res.statusCode).toBe(503)
      expect(res.headers['retry-after']).toBe('2')
      expect(res.headers['x-request-id']).toBeDefined()
      expect(res.json()).toEqual({ statusCode: 503, error: 'Service Unavailable', message: 'starting, retry later' })
    }
    expect((await get('/health')).statusCode).toBe(200)
    expect((await get('/startup')).json()).toEqual({ status: 'starting' })
    app.lifecycle.enter('ready')
    expect((await get('/fixture/slow?ms=0')).statusCode).toBe(200)
  })

  it('an unreachable dependency is a 503 JSON with Retry-After and no internals', async () => {
    await build([ok('postgres'), ok('redis')])
    app.lifecycle.enter('ready')
    const res = await get('/fixture/db')
    expect(res.statusCode).toBe(503)
    expect(res.headers['retry-after']).toBe('5')
    expect(res.json()).toEqual({ statusCode: 503, error: 'Service Unavailable', message: 'dependency unavailable' })
  })
})
