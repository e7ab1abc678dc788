// What a review broke from outside, against the real server and real Postgres and Redis:
// a cache outage at startup, requests that reach a pod still starting, IPv6, slow
// clients, a spike of the pod's own load, and a memory leak.
import { connect, type Socket } from 'node:net'
import { setTimeout as sleep } from 'node:timers/promises'
import { fileURLToPath } from 'node:url'
import pg from 'pg'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { FIXTURE_LOCK_KEY, FIXTURE_TABLE } from '../fixtures/routes.js'
import { expectAlive, getJson, until, type ReadyBody } from '../helpers/integration-probes.js'
import { startServer, type ServerProcess } from '../helpers/server.js'
import { startStack, type Stack } from '../helpers/stack.js'
import { terminated } from '../helpers/suite.js'

const leakFixture = fileURLToPath(new URL('../fixtures/leak-on-signal.mjs', import.meta.url))

let stack: Stack
let db: pg.Pool
const servers: ServerProcess[] = []
beforeAll(async () => {
  stack = await startStack({ toxiproxy: true })
  db = new pg.Pool({ connectionString: stack.directDatabaseUrl, max: 2 })
})
afterAll(async () => {
  await db?.end()
  await stack?.stop()
})
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.stop()))
  await stack.proxies!.postgres.setEnabled(true)
  await stack.proxies!.redis.setEnabled(true)
})

async function start(env: Record<string, string> = {}, options: Parameters<typeof startServer>[1] = {}) {
  const s = await startServer({ DATABASE_URL: stack.databaseUrl, REDIS_URL: stack.redisUrl, READY_CACHE_TTL_MS: '0', ...env }, options)
  servers.push(s)
  return s
}

// The fixture's cache-aside read (test/fixtures/routes.ts): Redis, then Postgres on a miss.
async function getItem(s: ServerProcess, id: string) {
  const res = await fetch(`${s.url}/fixture/items/${id}`, { signal: AbortSignal.timeout(10_000) })
  await res.arrayBuffer()
  return { status: res.status, cache: res.headers.get('x-cache') }
}

describe('startup gates on Postgres only: the Redis cache is not critical', () => {
  it('started while Redis is unreachable: ready, serving from Postgres (x-cache: bypass), then using Redis once it is back', async () => {
    await stack.proxies!.redis.setEnabled(false)
    const s = await start({}, { waitFor: 'startup' })
    const ready = s.logs.find((l) => l.lifecycle === 'ready')!
    expect(s.logs.filter((l) => l.msg === 'startup: redis ok')).toEqual([])
    const readyBody = await getJson<ReadyBody>(`${s.url}/ready`)
    expect(readyBody.status).toBe(200)
    expect(readyBody.body).toMatchObject({ status: 'ready', degraded: true, degradedReason: expect.stringMatching(/^redis: /) as string })
    const id = '2' // a seeded row the warm-up does not read
    expect(await getItem(s, id)).toEqual({ status: 200, cache: 'bypass' })
    // Redis is back: the background connection finds it, and the cache is used again.
    await stack.proxies!.redis.setEnabled(true)
    await s.waitForLog((l) => l.msg === 'startup: redis ok', 30_000)
    await until('the cache used again', async () => (await getItem(s, id)).cache === 'hit', { timeoutMs: 15_000 })
    expect((await getJson<ReadyBody>(`${s.url}/ready`)).body.degraded).toBeUndefined()
    expectAlive(s)
    console.log(`time to ready with Redis unreachable: ${String(ready.msSinceBoot)} ms after boot`)
  })

  it('a request that reaches a pod still starting gets 503 with Retry-After, not a 500 from a missing table', async () => {
    await db.query(`DROP TABLE IF EXISTS ${FIXTURE_TABLE}, schema_migrations`)
    await stack.proxies!.postgres.setEnabled(false)
    const s = await start({}, { waitFor: 'listening' })
    for (const path of ['/fixture/db', '/fixture/items/1']) {
      const res = await fetch(`${s.url}${path}`)
      expect(res.status).toBe(503)
      expect(res.headers.get('retry-after')).toBe('2')
      expect(await res.json()).toEqual({ statusCode: 503, error: 'Service Unavailable', message: 'starting, retry later' })
    }
    expect((await fetch(`${s.url}/startup`)).status).toBe(503)
    await stack.proxies!.postgres.setEnabled(true)
    await s.waitForLog((l) => l.lifecycle === 'ready', 30_000)
    expect((await fetch(`${s.url}/fixture/db`)).status).toBe(200)
  })
})

describe('listen address', () => {
  it('HOST unset: both listeners answer on IPv4 and IPv6 loopback (dual-stack ::)', async () => {
    const s = await start({ HOST: '' })
    const metricsPort = new URL(s.metricsUrl).port
    for (const host of ['127.0.0.1', '[::1]']) {
      expect((await fetch(`http://${host}:${s.port}/health`)).status).toBe(200)
      expect((await fetch(`http://${host}:${metricsPort}/metrics`)).status).toBe(200)
    }
    expect(s.logs.find((l) => l.msg === 'lifecycle: starting')?.host).toBe('::')
  })

  it('HOST=127.0.0.1 is honoured: nothing on IPv6', async () => {
    const s = await start({ HOST: '127.0.0.1' })
    expect((await fetch(`http://127.0.0.1:${s.port}/health`)).status).toBe(200)
    await expect(fetch(`http://[::1]:${s.port}/health`)).rejects.toThrow()
  })
})

/** Opens a connection and sends `head`; the socket is left open, the caller trickles the rest. */
async function openWith(port: number, head: string): Promise<Socket> {
  const socket = connect(port, '127.0.0.1')
  socket.on('error', () => undefined)
  await new Promise((resolve) => socket.once('connect', resolve))
  socket.write(head)
  return socket
}

describe('slow clients', () => {
  it('a request body still trickling in at SIGTERM does not hold the exit: exit 0 right after the drain, not at the deadline', async () => {
    const s = await start({ DRAIN_DELAY_MS: '1000', SHUTDOWN_TIMEOUT_MS: '20000' })
    const socket = await openWith(s.port, 'POST /fixture/echo HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\nContent-Length: 200\r\n\r\n{"name":"')
    const trickle = setInterval(() => socket.write('a'), 200)
    let closedByServer = false
    socket.once('close', () => (closedByServer = true))
    try {
      await sleep(500)
      const { code, ms } = await terminated(s)
      expect(code).toBe(0)
      // The drain is 1 s; the deadline 20 s, where a waiting close would have ended (exit 1).
      expect(ms).toBeLessThan(10_000)
      expect(closedByServer).toBe(true)
      expect(s.logs.find((l) => l.lifecycle === 'closed')?.exitCode).toBe(0)
    } finally {
      clearInterval(trickle)
      socket.destroy()
    }
  })

  it('1,000 trickling connections (slowloris): /health keeps answering within its probe timeout, and the server drops them at HEADERS_TIMEOUT_MS', async () => {
    const s = await start({ HEADERS_TIMEOUT_MS: '4000' })
    const sockets = await Promise.all(Array.from({ length: 1000 }, () => openWith(s.port, 'GET /fixture/db HTTP/1.1\r\nHost: test\r\n')))
    let dropped = 0
    for (const socket of sockets) socket.once('close', () => dropped++)
    const trickle = setInterval(() => {
      for (const socket of sockets) if (!socket.destroyed) socket.write('X')
    }, 1000)
    try {
      const latencies: number[] = []
      for (let i = 0; i < 12; i++) {
        const res = await getJson<{ status: string }>(`${s.url}/health`, 5000)
        expect(res.status).toBe(200)
        latencies.push(res.ms)
        await sleep(250)
      }
      // The kubelet's liveness timeoutSeconds is 5 (values.yaml).
      expect(Math.max(...latencies)).toBeLessThan(5000)
      await until('the slow connections dropped', async () => dropped === sockets.length, { timeoutMs: 20_000 })
      expectAlive(s)
      latencies.sort((a, b) => a - b)
      console.log(`/health under 1,000 slow sockets: median ${latencies[6]!.toFixed(1)} ms, worst ${latencies[11]!.toFixed(1)} ms`)
    } finally {
      clearInterval(trickle)
      for (const socket of sockets) socket.destroy()
    }
  })
})

describe("readiness under the pod's own load", () => {
  it('a spike that holds every pooled connection keeps /ready 200; a real Postgres outage still makes it 503', async () => {
    const s = await start({ PG_POOL_MAX: '3', PG_QUERY_TIMEOUT_MS: '8000', READY_CHECK_TIMEOUT_MS: '1000' })
    const locker = await db.connect()
    try {
      // Every /fixture/locked query waits for the lock: the pool's two connections are taken, the rest queue.
      await locker.query('BEGIN')
      await locker.query('SELECT pg_advisory_xact_lock($1)', [FIXTURE_LOCK_KEY])
      const spike = Array.from({ length: 12 }, () => fetch(`${s.url}/fixture/locked`).then((r) => r.status, () => 0))
      await until('the pool saturated', async () => {
        const { rows } = await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM pg_locks WHERE locktype = 'advisory' AND objid::bigint = $1 AND NOT granted`, [FIXTURE_LOCK_KEY])
        return rows[0]!.n >= 2
      })
      // Queued requests wait for a pooled connection up to 5 s (connectionTimeoutMillis): stay below.
      for (let i = 0; i < 8; i++) {
        const ready = await getJson<ReadyBody>(`${s.url}/ready`)
        expect(ready.status, JSON.stringify(ready.body)).toBe(200)
        await sleep(250)
      }
      await locker.query('ROLLBACK')
      expect((await Promise.all(spike)).every((status) => status === 200)).toBe(true)
    } finally {
      await locker.query('ROLLBACK').catch(() => undefined)
      locker.release()
    }
    // Positive control: the same check sees a real outage.
    await stack.proxies!.postgres.setEnabled(false)
    const down = await until('/ready 503 with Postgres cut', async () => {
      const r = await getJson<ReadyBody>(`${s.url}/ready`)
      return r.status === 503 ? r : undefined
    }, { timeoutMs: 10_000 })
    expect(down.body.reason).toMatch(/^postgres: /)
  })
})

describe('memory pressure', () => {
  it('memory over MAX_RSS_BYTES for MEMORY_PRESSURE_EXIT_MS ends in a drained exit 1 (a restart), not an unready zombie', async () => {
    const s = await start(
      { MAX_RSS_BYTES: String(400 * 1024 * 1024), MEMORY_PRESSURE_EXIT_MS: '3000', DRAIN_DELAY_MS: '500' },
      { nodeArgs: ['--import', leakFixture] },
    )
    // Positive control: without the leak, the process stays up past MEMORY_PRESSURE_EXIT_MS.
    await sleep(4000)
    expectAlive(s)
    const leakAt = performance.now()
    s.child.kill('SIGUSR2')
    const { code } = await s.exited
    const ms = performance.now() - leakAt
    expect(code).toBe(1)
    expect(ms).toBeGreaterThanOrEqual(3000)
    const restart = s.logs.find((l) => l.msg.includes('memory pressure sustained'))
    expect(restart, s.output()).toBeDefined()
    expect(restart!.rssBytes as number).toBeGreaterThan(400 * 1024 * 1024)
    // Drained like a rollout: unready first, then closed.
    expect(s.logs.map((l) => l.lifecycle).filter(Boolean)).toEqual(['starting', 'ready', 'draining', 'closing', 'closed'])
    console.log(`leaking process restarted ${Math.round(ms)} ms after the leak began`)
  })
})
