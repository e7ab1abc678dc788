// The API contract through inject(): the generated OpenAPI document is valid 3.1 (a standard
// validator), docs/openapi.json is not stale, every operation documents its errors, and the
// app keeps to what the spec says for the cases a client cannot see in it (404 and 405,
// strict integers, limits, security headers, CORS). Whatever routes the service has: the
// requests here go to the test fixture's routes (test/fixtures/routes.ts, hidden from the
// spec); the example API's own paths are in example-openapi.test.ts. The fuzzing is
// test/integration/schemathesis.test.ts.
import { once } from 'node:events'
import { readFile } from 'node:fs/promises'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { compileErrors, validate } from '@readme/openapi-parser'
import Fastify from 'fastify'
import helmet from 'helmet'
import { Value } from 'typebox/value'
import { describe, expect, it } from 'vitest'
import { Lifecycle } from '../../src/lifecycle.js'
import apiContract, { ErrorBody, securityHeaders } from '../../src/plugins/api-contract.js'
import redis from '../../src/plugins/redis.js'
import { createReadiness } from '../../src/readiness.js'
import { probeRoutes } from '../../src/routes/probes.js'
import { renderSpec, SPEC_FILE } from '../../scripts/openapi.js'
import { contractApps, operations, type Spec } from '../helpers/openapi.js'

const { apps, build } = contractApps()
const PROBES = ['/health', '/startup', '/ready']

async function expectValid(spec: unknown) {
  const result = await validate(structuredClone(spec) as Parameters<typeof validate>[0])
  expect(result.valid ? '' : compileErrors(result)).toBe('')
}

describe('OpenAPI document', () => {
  it('is served at /openapi.json, valid OpenAPI 3.1', async () => {
    const app = await build()
    const res = await app.inject('/openapi.json')
    expect(res.statusCode).toBe(200)
    expect(res.headers['content-type']).toMatch(/^application\/json/)
    const spec = res.json<Spec>()
    expect(spec.openapi).toBe('3.1.0')
    await expectValid(spec)
    const listed = operations(spec).map(({ path, method }) => `${method.toUpperCase()} ${path}`)
    expect(listed.slice(0, 3)).toEqual(PROBES.map((path) => `GET ${path}`))
    // The test fixture's routes are registered, and hidden.
    expect((await app.inject('/fixture/slow?ms=0')).statusCode).toBe(200)
    expect(listed.filter((op) => op.includes('/fixture'))).toEqual([])
  })

  it('docs/openapi.json is up to date (run `npm run docs:openapi`)', async () => {
    const app = await build()
    expect(await readFile(SPEC_FILE, 'utf8'), 'docs/openapi.json is stale: run `npm run docs:openapi`').toBe(renderSpec(app))
  })

  it('documents every error an operation can answer, 503 and 429 with Retry-After', async () => {
    const spec = (await build()).swagger() as unknown as Spec
    for (const { path, op } of operations(spec)) {
      const codes = Object.keys(op.responses)
      if (PROBES.includes(path)) {
        // Probes: never rate limited nor shed; their 503 is their own body.
        expect(codes.filter((c) => c !== '200' && c !== '503'), path).toEqual([])
        continue
      }
      expect(codes, path).toEqual(expect.arrayContaining(['429', '500', '503']))
      if (op.parameters?.length || op.requestBody) expect(codes, path).toContain('400')
      if (op.requestBody) expect(codes, path).toEqual(expect.arrayContaining(['413', '415']))
      for (const code of ['429', '503']) expect(op.responses[code]?.headers, `${path} ${code}`).toHaveProperty('retry-after')
    }
    expect(spec.components.responses.MethodNotAllowed?.headers).toHaveProperty('allow')
    expect(spec.components.responses).toHaveProperty('NotFound')
    expect(Object.keys(spec.paths['/ready']?.get?.responses ?? {})).toEqual(['200', '503'])
    expect(Object.keys(spec.paths['/startup']?.get?.responses ?? {})).toEqual(['200', '503'])
  })

  it('without the example API: the probes alone, and a spec that still validates', async () => {
    const app = Fastify({ logger: false })
    apps.push(app)
    const lifecycle = new Lifecycle(app.log)
    await app.register(redis, { url: 'redis://127.0.0.1:1', commandTimeoutMs: 100 })
    await app.register(apiContract, { corsOrigins: [], rateLimitMax: 0, rateLimitWindowMs: 60_000, redis: app.redis })
    await app.register(probeRoutes, { lifecycle, readiness: createReadiness({ checks: [], timeoutMs: 100, cacheTtlMs: 0 }), underPressure: () => false })
    await app.ready()
    const spec = (await app.inject('/openapi.json')).json<Spec>()
    expect(Object.keys(spec.paths)).toEqual(['/health', '/startup', '/ready'])
    await expectValid(spec)
  })
})

describe('what the spec does not list', () => {
  it('a known path with another method: 405 with Allow, before any body is read (QUERY, DELETE, OPTIONS)', async () => {
    const app = await build()
    for (const [method, url, allow] of [
      ['QUERY', '/fixture/cache/k', 'GET, HEAD, PUT'],
      ['DELETE', '/fixture/items/1', 'GET, HEAD'],
      ['OPTIONS', '/health', 'GET, HEAD'],
      ['PUT', '/fixture/slow?ms=1', 'GET, HEAD'],
    ] as const) {
      const res = await app.inject({ method, url })
      expect(res.statusCode, `${method} ${url}`).toBe(405)
      expect(res.headers.allow).toBe(allow)
      expect(res.json()).toMatchObject({ statusCode: 405, error: 'Method Not Allowed' })
      expect(Value.Check(ErrorBody, res.json())).toBe(true)
    }
  })

  it('an unknown path: 404, whatever the method', async () => {
    const app = await build()
    for (const method of ['GET', 'POST', 'QUERY'] as const) {
      const res = await app.inject({ method, url: '/v1/nope?x=1' })
      expect(res.statusCode).toBe(404)
      expect(res.json()).toEqual({ statusCode: 404, error: 'Not Found', message: `Route ${method} /v1/nope not found` })
      expect(Value.Check(ErrorBody, res.json())).toBe(true)
    }
  })

  it('integer query parameters take plain digits only: empty, boolean, float, hex, exponent and padded values are 400', async () => {
    const app = await build()
    for (const ms of ['', 'true', '1.0', '1.5', '0x1', '1e1', '%201', 'NaN']) {
      const res = await app.inject(`/fixture/slow?ms=${ms}`)
      expect(res.statusCode, `ms=${ms}`).toBe(400)
      expect(res.json()).toMatchObject({ statusCode: 400, code: 'FST_ERR_VALIDATION', message: 'querystring/ms must be integer' })
    }
    expect((await app.inject('/fixture/slow?ms=600001')).statusCode).toBe(400)
    expect((await app.inject('/fixture/stream?intervalMs=1e3')).statusCode).toBe(400)
    expect((await app.inject('/fixture/slow?ms=0')).json()).toEqual({ waitedMs: 0 })
  })

  it('bodies as typed: a property the schema does not allow is 400, not dropped; no type coercion', async () => {
    const app = await build()
    const extra = await app.inject({ method: 'POST', url: '/fixture/echo', payload: { name: 'x', extra: 1 } })
    expect(extra.statusCode).toBe(400)
    expect(extra.json()).toMatchObject({ code: 'FST_ERR_VALIDATION', message: 'body must NOT have additional properties' })
    for (const name of [false, 42, ['x'], null]) {
      const res = await app.inject({ method: 'POST', url: '/fixture/echo', payload: { name } })
      expect(res.statusCode, JSON.stringify(name)).toBe(400)
      expect(res.json()).toMatchObject({ message: 'body/name must be string' })
    }
  })

  it('bodies above BODY_LIMIT_BYTES are 413; content types without a parser 415', async () => {
    const app = await build({ BODY_LIMIT_BYTES: '64' })
    const big = await app.inject({ method: 'POST', url: '/fixture/echo', payload: { name: 'x'.repeat(100) } })
    expect(big.statusCode).toBe(413)
    expect(big.json()).toMatchObject({ statusCode: 413, error: 'Payload Too Large', code: 'FST_ERR_CTP_BODY_TOO_LARGE' })
    expect(Value.Check(ErrorBody, big.json())).toBe(true)
    const text = await app.inject({ method: 'POST', url: '/fixture/echo', headers: { 'content-type': 'application/xml' }, payload: '<x/>' })
    expect(text.statusCode).toBe(415)
    expect(text.json()).toMatchObject({ statusCode: 415, error: 'Unsupported Media Type' })
  })
})

describe('security headers and CORS', () => {
  it('API answers carry the security headers of a JSON API; probes do not (a kubelet renders nothing)', async () => {
    const app = await build()
    const api = await app.inject('/fixture/slow?ms=0')
    expect(api.headers).toMatchObject({
      'content-security-policy': "default-src 'none';frame-ancestors 'none'",
      'x-content-type-options': 'nosniff',
      'x-frame-options': 'DENY',
      'strict-transport-security': expect.stringMatching(/^max-age=\d+/) as string,
      'cross-origin-resource-policy': 'same-origin',
    })
    // helmet's headers for documents only: not on a JSON API's answers.
    for (const header of ['x-powered-by', 'cross-origin-opener-policy', 'referrer-policy', 'x-xss-protection', 'x-dns-prefetch-control']) {
      expect(api.headers).not.toHaveProperty(header)
    }
    const notFound = await app.inject('/nope')
    expect(notFound.headers['x-content-type-options']).toBe('nosniff')
    const health = await app.inject('/health')
    expect(health.statusCode).toBe(200)
    expect(health.headers).not.toHaveProperty('content-security-policy')
    for (const res of [
      await app.inject({ method: 'HEAD', url: '/fixture/slow?ms=0' }),
      await app.inject({ method: 'DELETE', url: '/fixture/slow' }),
      await app.inject('/openapi.json'),
    ]) {
      expect(res.statusCode, res.body).toBeLessThan(500)
      expect(res.headers['content-security-policy']).toBe("default-src 'none';frame-ancestors 'none'")
    }
  })

  it('the headers computed once are the ones helmet writes on a real response', async () => {
    const options = { contentSecurityPolicy: { useDefaults: false, directives: { 'default-src': ["'none'"] } } }
    const server = createServer((req, res) => helmet(options)(req, res, () => res.end()))
    server.listen(0, '127.0.0.1')
    await once(server, 'listening')
    try {
      const res = await fetch(`http://127.0.0.1:${(server.address() as AddressInfo).port}/`)
      const written = Object.fromEntries([...res.headers].filter(([name]) => !['date', 'connection', 'keep-alive', 'content-length', 'transfer-encoding'].includes(name)))
      expect(Object.keys(written).length).toBeGreaterThan(5)
      expect({ ...securityHeaders(options) }).toEqual(written)
    } finally {
      server.close()
    }
  })

  it('CORS is off by default: no Access-Control header for any origin', async () => {
    const app = await build()
    const res = await app.inject({ url: '/fixture/slow?ms=0', headers: { origin: 'https://evil.example' } })
    expect(res.statusCode).toBe(200)
    expect(Object.keys(res.headers).filter((h) => h.startsWith('access-control-'))).toEqual([])
  })

  it('CORS_ORIGINS: those origins allowed (preflight included), no other', async () => {
    const app = await build({ CORS_ORIGINS: 'https://app.example.com' })
    const ok = await app.inject({ url: '/fixture/slow?ms=0', headers: { origin: 'https://app.example.com' } })
    expect(ok.headers['access-control-allow-origin']).toBe('https://app.example.com')
    const preflight = await app.inject({
      method: 'OPTIONS',
      url: '/fixture/echo',
      headers: { origin: 'https://app.example.com', 'access-control-request-method': 'POST' },
    })
    expect(preflight.statusCode).toBe(204)
    expect(preflight.headers['access-control-allow-methods']).toBe('GET, HEAD, POST')
    const other = await app.inject({ url: '/fixture/slow?ms=0', headers: { origin: 'https://evil.example' } })
    expect(other.headers).not.toHaveProperty('access-control-allow-origin')
    // CORS answers OPTIONS everywhere; an unknown path is still 404.
    expect((await app.inject('/nope')).statusCode).toBe(404)
  })
})
