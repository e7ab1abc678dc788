// The example API's own contract (src/routes/items.ts, events.ts): its operations in the
// OpenAPI document, and the limits its schemas set. Deleted with the example
// (`init --strip-example`); test/unit/openapi.test.ts holds the generic contract tests.
import { describe, expect, it } from 'vitest'
import { SLOW_MAX_MS } from '../../src/routes/items.js'
import { contractApps, operations } from '../helpers/openapi.js'

const { build } = contractApps()

describe('the example API in the OpenAPI document', () => {
  it('lists its operations after the probes', async () => {
    const spec = (await build()).swagger() as unknown as Parameters<typeof operations>[0]
    expect(operations(spec).map(({ path, method }) => `${method.toUpperCase()} ${path}`)).toEqual([
      'GET /health',
      'GET /startup',
      'GET /ready',
      'GET /api/items',
      'POST /api/items',
      'GET /api/items/{id}',
      'GET /api/slow',
      'GET /api/events',
    ])
  })
})

describe('the example API keeps to its schemas', () => {
  it('a known path with another method: 405 with the methods it has', async () => {
    const app = await build()
    const res = await app.inject({ method: 'QUERY', url: '/api/items' })
    expect(res.statusCode).toBe(405)
    expect(res.headers.allow).toBe('GET, HEAD, POST')
  })

  it('/api/slow waits at most SLOW_MAX_MS; intervalMs of /api/events is an integer', async () => {
    const app = await build()
    expect((await app.inject(`/api/slow?ms=${SLOW_MAX_MS + 1}`)).statusCode).toBe(400)
    expect((await app.inject('/api/events?intervalMs=1e3')).statusCode).toBe(400)
    expect((await app.inject('/api/slow?ms=0')).json()).toEqual({ waitedMs: 0 })
  })

  it('a name Postgres cannot store (U+0000) is 400, not a database error', async () => {
    const app = await build()
    const res = await app.inject({ method: 'POST', url: '/api/items', payload: { name: 'a\u0000b' } })
    expect(res.statusCode).toBe(400)
    expect(res.json()).toMatchObject({ code: 'FST_ERR_VALIDATION' })
  })

  it('an event stream only for clients that ask for one; others get the first event and the end', async () => {
    const app = await build()
    const res = await app.inject('/api/events?intervalMs=100')
    expect(res.statusCode).toBe(200)
    expect(res.body).toMatch(/^retry: 1000\n\nid: 1\nevent: tick\ndata: \{"n":1,"at":"[^"]+"\}\n\n$/)
  })
})
