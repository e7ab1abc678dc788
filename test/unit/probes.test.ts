// Probe contract through inject(), with fake checks standing in for Postgres and Redis
// (the real dependencies are exercised in test/integration).
import type { FastifyInstance } from 'fastify'
import { afterEach, describe, expect, it } from 'vitest'
import { buildApp } from '../../src/app.js'
import { loadConfig } from '../../src/config.js'
import type { Check } from '../../src/readiness.js'

// Nothing listens on port 1: the real plugins stay unconnected; the checks are fakes.
const env = { DATABASE_URL: 'postgres://app:s3cret@127.0.0.1:1/app', REDIS_URL: 'redis://127.0.0.1:1', LOG_LEVEL: 'silent', READY_CACHE_TTL_MS: '0' }
const ok = (name: string): Check => ({ name, run: async () => {} })
const failing = (name: string, message: string): Check => ({ name, run: () => Promise.reject(new Error(message)) })

let app: FastifyInstance
async function build(checks: Check[], extraEnv: Record<string, string> = {}) {
  app = await buildApp(loadConfig({ ...env, ...extraEnv }), { checks })
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

  it('a failed dependency makes /ready 503 naming it; /health stays 200', async () => {
    await build([ok('postgres'), failing('redis', 'connect ECONNREFUSED 127.0.0.1:6379')])
    app.lifecycle.enter('ready')
    const ready = await get('/ready')
    expect(ready.statusCode).toBe(503)
    expect(ready.json()).toMatchObject({ status: 'not ready', reason: 'redis: connect ECONNREFUSED 127.0.0.1:6379', checks: { postgres: { status: 'ok' }, redis: { status: 'fail' } } })
    expect((await get('/health')).statusCode).toBe(200)
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

  it('bodies carry no connection strings or stack traces', async () => {
    await build([failing('postgres', 'password authentication failed for postgres://app:s3cret@db/app'), ok('redis')])
    app.lifecycle.enter('ready')
    const body = (await get('/ready')).body
    expect(body).not.toMatch(/s3cret|postgres:\/\/|\bat .*\.js:\d+/)
    expect(body).toContain('postgres: password authentication failed for [url]')
  })
})

describe('load shedding', () => {
  // A 1-byte heap limit puts the process under pressure at the first sample.
  const pressure = { MAX_HEAP_USED_BYTES: '1' }

  it('sheds business routes with 503 + Retry-After but never the probes; /ready reports it', async () => {
    await build([ok('postgres'), ok('redis')], pressure)
    app.lifecycle.enter('ready')
    // under-pressure samples once a second.
    for (let i = 0; i < 50 && !app.isUnderPressure(); i++) await new Promise((r) => setTimeout(r, 100))
    expect(app.isUnderPressure()).toBe(true)
    const shed = await get('/api/slow?ms=0')
    expect(shed.statusCode).toBe(503)
    expect(shed.headers['retry-after']).toBeDefined()
    expect((await get('/health')).statusCode).toBe(200)
    expect((await get('/startup')).statusCode).toBe(200)
    const ready = await get('/ready')
    expect(ready.statusCode).toBe(503)
    expect(ready.json()).toMatchObject({ status: 'not ready', reason: 'under pressure' })
  })
})

describe('event-loop pressure', () => {
  it('a blocked event loop makes /ready 503 "under pressure" while /health still answers', async () => {
    await build([ok('postgres'), ok('redis')], { MAX_EVENT_LOOP_DELAY_MS: '50', MAX_EVENT_LOOP_UTILIZATION: '0' })
    app.lifecycle.enter('ready')
    expect((await get('/ready')).statusCode).toBe(200)
    // Block the loop (a synchronous hot path, a runaway JSON.parse) past the threshold,
    // repeatedly, until one sampled window shows it; read the probes within that window.
    let seen: { ready: Awaited<ReturnType<typeof get>>; health: number; api: number } | undefined
    for (let i = 0; i < 50 && !seen; i++) {
      const until = performance.now() + 200
      while (performance.now() < until) {
        /* busy */
      }
      await new Promise((r) => setTimeout(r, 20))
      if (!app.isUnderPressure()) continue
      const [ready, health, api] = await Promise.all([get('/ready'), get('/health'), get('/api/slow?ms=0')])
      if (app.isUnderPressure()) seen = { ready, health: health.statusCode, api: api.statusCode }
    }
    expect(seen).toBeDefined()
    expect(seen!.ready.statusCode).toBe(503)
    expect(seen!.ready.json()).toMatchObject({ status: 'not ready', reason: 'under pressure' })
    expect(seen!.health).toBe(200)
    expect(seen!.api).toBe(503)
  })
})

describe('requests', () => {
  it('echoes a well-formed x-request-id and replaces a malformed one', async () => {
    await build([ok('postgres'), ok('redis')])
    expect((await get('/health', { 'x-request-id': 'abc-123' })).headers['x-request-id']).toBe('abc-123')
    const replaced = (await get('/health', { 'x-request-id': 'bad id\nwith newline' })).headers['x-request-id']
    expect(replaced).toMatch(/^[0-9a-f-]{36}$/)
  })

  it('bad input gets 4xx JSON', async () => {
    await build([ok('postgres'), ok('redis')])
    const bad = await app.inject({ method: 'POST', url: '/api/items', payload: { nope: 1 } })
    expect(bad.statusCode).toBe(400)
    expect(bad.json()).toMatchObject({ statusCode: 400, error: 'Bad Request', message: expect.stringContaining('name') as string })
    const badJson = await app.inject({ method: 'POST', url: '/api/items', headers: { 'content-type': 'application/json' }, payload: '{"name":' })
    expect(badJson.statusCode).toBe(400)
    expect(badJson.json()).toMatchObject({ statusCode: 400, error: 'Bad Request' })
    const badId = await get('/api/items/abc')
    expect(badId.statusCode).toBe(400)
    const slow = await get('/api/slow?ms=999999')
    expect(slow.statusCode).toBe(400)
    const missing = await get('/nope?token=x')
    expect(missing.statusCode).toBe(404)
    expect(missing.json()).toEqual({ statusCode: 404, error: 'Not Found', message: 'Route GET /nope not found' })
  })

  it('an unreachable dependency is a 503 JSON with Retry-After and no internals', async () => {
    await build([ok('postgres'), ok('redis')])
    const res = await get('/api/items')
    expect(res.statusCode).toBe(503)
    expect(res.headers['retry-after']).toBe('5')
    expect(res.json()).toEqual({ statusCode: 503, error: 'Service Unavailable', message: 'dependency unavailable' })
  })
})
