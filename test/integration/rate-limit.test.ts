// Rate limiting (RATE_LIMIT_MAX > 0) against the built server and a real Redis behind
// Toxiproxy: the counters live in Redis, so every replica shares them; an address over
// the limit gets 429 with Retry-After; probes are never limited; and with Redis cut the
// limit fails open (requests pass, none fails), as the cache does.
import { setTimeout as sleep } from 'node:timers/promises'
import { Redis } from 'ioredis'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { expectAlive, getJson } from '../helpers/integration-probes.js'
import { startServer, type ServerProcess } from '../helpers/server.js'
import type { Stack } from '../helpers/stack.js'
import { startBehindToxiproxy } from '../helpers/suite.js'

const MAX = 5
const WINDOW_MS = 60_000

let stack: Stack
let server: ServerProcess
let redis: Redis
const extra: ServerProcess[] = []

beforeAll(async () => {
  ;({ stack, server } = await startBehindToxiproxy({ RATE_LIMIT_MAX: String(MAX), RATE_LIMIT_WINDOW_MS: String(WINDOW_MS) }))
  redis = new Redis(stack.redis.getConnectionUrl(), { lazyConnect: true })
  await redis.connect()
})

afterAll(async () => {
  redis?.disconnect()
  await Promise.all([server?.stop(), ...extra.map((s) => s.stop())])
  await stack?.stop()
})

const call = (s: ServerProcess) => fetch(`${s.url}/fixture/slow?ms=0`, { signal: AbortSignal.timeout(10_000) })

describe('rate limit (RATE_LIMIT_MAX > 0)', () => {
  it(`allows ${MAX} requests per window and address, then 429 with Retry-After; the count is in Redis`, async () => {
    // The pod's own warm-up requests (from 127.0.0.1, before ready) did not spend the budget.
    expect(server.logs.find((l) => l.msg === 'startup: warm-up ok')).toMatchObject({ requests: expect.any(Number) as number })
    for (let i = 0; i < MAX; i++) {
      const res = await call(server)
      expect(res.status).toBe(200)
      expect(res.headers.get('x-ratelimit-limit')).toBe(String(MAX))
      expect(res.headers.get('x-ratelimit-remaining')).toBe(String(MAX - 1 - i))
    }
    const limited = await call(server)
    expect(limited.status).toBe(429)
    const retryAfter = Number(limited.headers.get('retry-after'))
    expect(retryAfter).toBeGreaterThan(0)
    expect(retryAfter).toBeLessThanOrEqual(WINDOW_MS / 1000)
    expect(await limited.json()).toMatchObject({ statusCode: 429, error: 'Too Many Requests', message: expect.stringMatching(/^Rate limit exceeded/) as string })
    expect(await redis.keys('rate-limit:*')).toEqual([expect.stringContaining('127.0.0.1')])
  })

  it('probes are never limited', async () => {
    for (let i = 0; i < 3 * MAX; i++) {
      for (const path of ['/health', '/ready', '/startup']) expect((await getJson(`${server.url}${path}`)).status, path).toBe(200)
    }
  })

  it('another replica on the same Redis sees the same count: limited at once', async () => {
    const other = await startServer({ DATABASE_URL: stack.databaseUrl, REDIS_URL: stack.redisUrl, RATE_LIMIT_MAX: String(MAX), RATE_LIMIT_WINDOW_MS: String(WINDOW_MS) })
    extra.push(other)
    expect((await call(other)).status).toBe(429)
  })

  it('fails open with Redis cut: every request served, none limited or failed; limited again once Redis is back', async () => {
    await stack.proxies?.redis.setEnabled(false)
    try {
      for (let i = 0; i < 2 * MAX; i++) {
        const res = await call(server)
        expect(res.status).toBe(200)
        expect(res.headers.get('retry-after')).toBeNull()
      }
    } finally {
      await stack.proxies?.redis.setEnabled(true)
    }
    // ioredis reconnects with backoff; the window's count is still in Redis.
    const deadline = performance.now() + 30_000
    let status = 0
    while (performance.now() < deadline && (status = (await call(server)).status) !== 429) await sleep(250)
    expect(status).toBe(429)
    expectAlive(server)
  })
})
