// The example API during dependency outages, through Toxiproxy: a Redis outage degrades
// the cache (requests still served from Postgres, failing fast rather than queueing),
// a Postgres outage is a quick 503 with Retry-After rather than a hung request.
import { Redis } from 'ioredis'
import { setTimeout as sleep } from 'node:timers/promises'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { expectAlive, getJson, until, type ReadyBody } from '../helpers/integration-probes.js'
import type { ServerProcess } from '../helpers/server.js'
import type { Stack } from '../helpers/stack.js'
import { startBehindToxiproxy } from '../helpers/suite.js'

interface Item {
  id: string
  name: string
}

let stack: Stack
let server: ServerProcess
let item: Item

beforeAll(async () => {
  const started = await startBehindToxiproxy()
  stack = started.stack
  server = started.server
  const res = await fetch(`${server.url}/api/items`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ name: 'degradation' }),
  })
  expect(res.status).toBe(201)
  item = (await res.json()) as Item
})

afterAll(async () => {
  await server?.stop()
  await stack?.stop()
})

async function getItem() {
  const start = performance.now()
  const res = await fetch(`${server.url}/api/items/${item.id}`, { signal: AbortSignal.timeout(10_000) })
  return { status: res.status, cache: res.headers.get('x-cache'), body: (await res.json()), ms: performance.now() - start }
}

const untilReady = () =>
  until('/ready 200, not degraded', async () => {
    const res = await getJson<ReadyBody>(`${server.url}/ready`)
    return res.status === 200 && !res.body.degraded
  })

describe('example API under dependency outages', () => {
  it('Redis down: items are still served from Postgres, fast, and cached again after recovery', async () => {
    // Cached while Redis is up.
    expect((await getItem()).cache).toMatch(/miss|hit/)
    expect((await getItem()).cache).toBe('hit')

    await stack.proxies!.redis.setEnabled(false)
    try {
      // The cache is not critical: the pod stays ready, reported degraded.
      const degraded = await until('/ready degraded naming redis', async () => {
        const res = await getJson<ReadyBody>(`${server.url}/ready`)
        return res.body.degradedReason?.startsWith('redis:') && res
      })
      expect(degraded.status).toBe(200)
      for (let i = 0; i < 5; i++) {
        const res = await getItem()
        expect(res).toMatchObject({ status: 200, cache: 'bypass', body: item })
        // No offline queue: the cache read fails at once instead of waiting for a reconnect.
        expect(res.ms).toBeLessThan(1000)
      }
    } finally {
      await stack.proxies!.redis.setEnabled(true)
    }
    await untilReady()
    await until('cache hit again', async () => (await getItem()).cache === 'hit')
    expectAlive(server)
  })

  it('Redis slow, not down: a cache miss waits for one Redis round trip (the read), not two (the cache write is off the request path)', async () => {
    const LATENCY_MS = 700 // below REDIS_COMMAND_TIMEOUT_MS (1000): slow, answering
    const key = `item:${item.id}`
    const toxic = await stack.proxies!.redis.instance.addToxic({ name: 'redis-slow', type: 'latency', stream: 'downstream', toxicity: 1, attributes: { latency: LATENCY_MS, jitter: 0 } })
    try {
      const misses: number[] = []
      const direct = new Redis(stack.redis.getConnectionUrl()) // not through the proxy
      for (let i = 0; i < 3; i++) {
        // Evicted, so the next read is a miss that fills the cache; the write in flight from
        // the previous miss lands first.
        await sleep(2 * LATENCY_MS)
        await direct.del(key)
        const res = await getItem()
        expect(res).toMatchObject({ status: 200, cache: 'miss', body: item })
        misses.push(res.ms)
      }
      // Awaiting the write too took two round trips (over 1,400 ms) on every miss.
      expect(Math.min(...misses)).toBeGreaterThanOrEqual(LATENCY_MS)
      expect(Math.max(...misses)).toBeLessThan(2 * LATENCY_MS)
      await direct.quit()
    } finally {
      await toxic.remove()
    }
    await until('cache hit again', async () => (await getItem()).cache === 'hit')
    expectAlive(server)
  })

  it('Postgres down: uncached reads are a quick 503 JSON with Retry-After, and recover', async () => {
    await stack.proxies!.postgres.setEnabled(false)
    try {
      await until('/ready 503 naming postgres', async () => (await getJson<ReadyBody>(`${server.url}/ready`)).body.reason?.startsWith('postgres:'))
      const start = performance.now()
      const res = await fetch(`${server.url}/api/items`, { signal: AbortSignal.timeout(10_000) })
      const ms = performance.now() - start
      expect(res.status).toBe(503)
      expect(res.headers.get('retry-after')).toBe('5')
      expect(await res.json()).toEqual({ statusCode: 503, error: 'Service Unavailable', message: 'dependency unavailable' })
      // Bounded by the pool's connect timeout, never by the client's patience.
      expect(ms).toBeLessThan(6000)
    } finally {
      await stack.proxies!.postgres.setEnabled(true)
    }
    await untilReady()
    expect((await getJson<Item[]>(`${server.url}/api/items`)).status).toBe(200)
    expectAlive(server)
  })

  it('Redis connection to a vanished peer: detected and replaced, not kept "ready" forever', async () => {
    // A blackhole that outlasts ioredis' socketTimeout (5 s here): the peer neither answers
    // nor closes, as when a node disappears. The client must declare the socket dead.
    const logsBefore = server.logs.length
    const toxic = await stack.proxies!.redis.instance.addToxic({ name: 'redis-vanished', type: 'timeout', stream: 'downstream', toxicity: 1, attributes: { timeout: 0 } })
    try {
      const lost = await until(
        'socket declared dead',
        async () => {
          // Readiness PINGs keep commands pending on the stuck socket, as real traffic would.
          await getJson<ReadyBody>(`${server.url}/ready`)
          return server.logs.slice(logsBefore).find((l) => l.msg === 'redis: connection lost')
        },
        { timeoutMs: 20_000 },
      )
      expect(lost).toMatchObject({ level: 'warn', reason: expect.stringMatching(/Socket timeout/) as string })
    } finally {
      await toxic.remove()
    }
    await untilReady()
    await until('redis reconnected', async () => server.logs.slice(logsBefore).some((l) => l.msg === 'redis: reconnected'))
    expect((await getItem()).status).toBe(200)
    expectAlive(server)
  })
})
