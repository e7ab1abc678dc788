// The probes' fast path (src/routes/probes.ts, `fastPath`) answers in the server's request
// listener, before Fastify: it must send the bytes the routes send, in every state, and
// share the routes' readiness rounds. Over real sockets: the app listening (fast path)
// against a second server that hands every request to Fastify (`app.routing`).
import { createServer, type Server } from 'node:http'
import { connect, type AddressInfo } from 'node:net'
import type { FastifyInstance } from 'fastify'
import { afterEach, describe, expect, it } from 'vitest'
import { buildApp } from '../../src/app.js'
import { loadConfig } from '../../src/config.js'
import type { Check } from '../../src/readiness.js'

// Nothing listens on port 1: the real plugins stay unconnected; the checks are fakes. A long
// TTL: one readiness round serves both servers, so both answer from the same report.
const env = { DATABASE_URL: 'postgres://app:s3cret@127.0.0.1:1/app', REDIS_URL: 'redis://127.0.0.1:1', LOG_LEVEL: 'silent', READY_CACHE_TTL_MS: '60000' }
const ok = (name: string): Check => ({ name, run: async () => {} })
const failing = (name: string, critical?: boolean): Check => ({
  name,
  critical,
  run: () => Promise.reject(Object.assign(new Error('connect ECONNREFUSED 10.1.2.3:5432'), { code: 'ECONNREFUSED' })),
})

let app: FastifyInstance | undefined
let viaFastify: Server | undefined
let hooks = 0
afterEach(async () => {
  viaFastify?.close()
  await app?.close()
  app = viaFastify = undefined
})

async function start(checks: Check[]) {
  hooks = 0
  app = await buildApp(loadConfig(env), { checks })
  // Counts the requests that reach Fastify's hooks.
  app.addHook('onRequest', (_req, _reply, done) => {
    hooks++
    done()
  })
  await app.listen({ port: 0, host: '127.0.0.1' })
  const fastify = app
  viaFastify = createServer((req, res) => fastify.routing(req, res))
  viaFastify.keepAliveTimeout = app.server.keepAliveTimeout
  await new Promise<void>((resolve) => viaFastify!.listen(0, '127.0.0.1', resolve))
  return app
}

/** The raw response to one request, its Date header blanked. */
function raw(server: Server, method: string, path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect((server.address() as AddressInfo).port, '127.0.0.1')
    let out = ''
    socket.setEncoding('latin1')
    socket.on('data', (chunk: string) => (out += chunk))
    socket.on('error', reject)
    socket.on('end', () => resolve(out.replace(/^Date: .*$/m, 'Date: -')))
    socket.write(`${method} ${path} HTTP/1.1\r\nHost: probe\r\nX-Request-Id: probe-1\r\nConnection: close\r\n\r\n`)
  })
}

/** Each probe, GET and HEAD, with and without a query: the fast path first (it runs any readiness round). */
async function expectSameAnswers() {
  const answers: Record<string, string> = {}
  for (const path of ['/health', '/startup', '/ready', '/ready?verbose=1']) {
    for (const method of ['GET', 'HEAD']) {
      const before = hooks
      const fast = await raw(app!.server, method, path)
      expect(hooks, `${method} ${path} reached Fastify`).toBe(before)
      const slow = await raw(viaFastify!, method, path)
      expect(hooks, `${method} ${path} via Fastify`).toBe(before + 1)
      expect(fast, `${method} ${path}`).toBe(slow)
      answers[`${method} ${path}`] = fast
    }
  }
  return answers
}

const status = (response: string | undefined) => response?.split('\r\n')[0]

describe('probes fast path', () => {
  it('starting: the same bytes as the routes', async () => {
    await start([ok('postgres'), ok('redis')])
    const answers = await expectSameAnswers()
    expect(status(answers['GET /health'])).toBe('HTTP/1.1 200 OK')
    expect(status(answers['GET /startup'])).toBe('HTTP/1.1 503 Service Unavailable')
    expect(answers['GET /ready']).toMatch(/\r\n\r\n\{"status":"not ready","reason":"starting"\}$/)
    expect(answers['GET /health']).toContain('\r\ncache-control: no-store\r\n')
    expect(answers['GET /health']).toContain('\r\nx-request-id: probe-1\r\n')
    expect(answers['GET /health']).toContain('\r\ncontent-type: application/json; charset=utf-8\r\n')
    // HEAD: the GET's headers (its Content-Length too), no body.
    expect(answers['HEAD /health']).toMatch(/content-length: 15\r\n[^]*\r\n\r\n$/)
  })

  it('ready: one readiness round, run by the fast path, shared with the route', async () => {
    const app = await start([ok('postgres'), ok('redis')])
    app.lifecycle.enter('ready')
    const answers = await expectSameAnswers()
    expect(status(answers['GET /ready'])).toBe('HTTP/1.1 200 OK')
    expect(answers['GET /ready']).toMatch(/\{"status":"ready","checks":\{"postgres":\{"status":"ok"/)
    expect(app.readiness.stats.rounds).toBe(1)
  })

  it('degraded: 200 with the failing cache named', async () => {
    const app = await start([ok('postgres'), failing('redis', false)])
    app.lifecycle.enter('ready')
    const answers = await expectSameAnswers()
    expect(status(answers['GET /ready'])).toBe('HTTP/1.1 200 OK')
    expect(answers['GET /ready']).toContain('"degradedReason":"redis: connection refused"')
  })

  it('not ready: the failed round is answered by the fast path itself, 503, once', async () => {
    const app = await start([failing('postgres'), ok('redis')])
    app.lifecycle.enter('ready')
    const answers = await expectSameAnswers()
    expect(status(answers['GET /ready'])).toBe('HTTP/1.1 503 Service Unavailable')
    expect(answers['GET /ready']).toContain('"reason":"postgres: connection refused"')
    expect(answers['GET /ready']).not.toMatch(/10\.1\.2\.3|5432/)
    expect(app.readiness.stats.rounds).toBe(1)
  })

  it('shutting down: 503 from the signal on', async () => {
    const app = await start([ok('postgres'), ok('redis')])
    app.lifecycle.enter('ready')
    app.lifecycle.enter('draining')
    const answers = await expectSameAnswers()
    expect(answers['GET /ready']).toMatch(/^HTTP\/1.1 503 [^]*\{"status":"not ready","reason":"shutting down"\}$/)
    expect(status(answers['GET /health'])).toBe('HTTP/1.1 200 OK')
  })

  it('anything else goes to Fastify: other methods, paths and near misses', async () => {
    await start([ok('postgres'), ok('redis')])
    for (const [method, path, expected] of [
      ['POST', '/health', '405'],
      ['DELETE', '/ready', '405'],
      ['GET', '/health/', '404'],
      ['GET', '/healthz', '404'],
      ['GET', '/Health', '404'],
    ] as const) {
      // Fastify's 404 and 405 (api-contract.ts answers them in its own onRequest hook).
      const response = await raw(app!.server, method, path)
      expect(status(response), `${method} ${path}`).toBe(`HTTP/1.1 ${expected} ${expected === '405' ? 'Method Not Allowed' : 'Not Found'}`)
      expect(response).toMatch(/\r\nallow: GET, HEAD\r\n|"error":"Not Found"/)
    }
  })
})
