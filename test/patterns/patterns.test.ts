// Each pattern of docs/copying-patterns.md, copied as the page says into an app that is
// not this template (test/patterns/foreign-app: fastify-cli's shape, @fastify/autoload,
// fastify-tsconfig strict, an HTTP upstream as its dependency, no under-pressure, no
// prom-client), type-checked with that app's tsconfig and run as a process.
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { once } from 'node:events'
import { readFileSync } from 'node:fs'
import { PostgreSqlContainer, type StartedPostgreSqlContainer } from '@testcontainers/postgresql'
import { RedisContainer, type StartedRedisContainer } from '@testcontainers/redis'
import pg from 'pg'
import { afterAll, afterEach, describe, expect, it } from 'vitest'
import { images } from '../helpers/images.js'
import { getJson, until } from '../helpers/integration-probes.js'
import { sample } from '../helpers/metrics.js'
import { freePort, startServer, type ServerProcess } from '../helpers/server.js'
import { startContainer } from '../helpers/stack.js'
import { containerEngine } from '../helpers/tools.js'
import { compile, copyPattern, type Copy } from './copy.js'
import { readRecipe, recipePath, repoRoot, unreachedFiles } from './recipe.js'

// A copy's tsc and, for some, a container start, on a loaded two-core machine: a bound on
// the setup, not on the behaviour.
const TIMEOUT = 300_000

const recipe = readRecipe()

/** The app's own dependency: /ping (its health), /work (answers after `workMs`). */
interface Upstream {
  url: string
  down: boolean
  workMs: number
  /** Resolves when the next /work request arrives. */
  nextWork(): Promise<void>
  close(): Promise<void>
}

async function startUpstream(): Promise<Upstream> {
  let arrived: (() => void) | undefined
  const state = { down: false, workMs: 0 }
  const server: Server = createServer((req, res) => {
    const json = (status: number, body: object) => res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body))
    if (req.url === '/ping') return json(state.down ? 503 : 200, { ok: !state.down })
    if (req.url === '/work') {
      arrived?.()
      return void setTimeout(() => json(200, { done: true }), state.workMs)
    }
    json(404, {})
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  return Object.assign(state, {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    nextWork: () => new Promise<void>((resolve) => (arrived = resolve)),
    close: () => {
      server.closeAllConnections()
      return new Promise<void>((resolve) => server.close(() => resolve()))
    },
  })
}

const cleanups: Array<() => unknown> = []
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup()
})

let postgres: Promise<StartedPostgreSqlContainer> | undefined
let redis: Promise<StartedRedisContainer> | undefined
const startPostgres = () =>
  (postgres ??= containerEngine().then(() => startContainer(() => new PostgreSqlContainer(images.postgres).withUsername('app').withPassword('s3cret-pw').withDatabase('app').start())))
const startRedis = () => (redis ??= containerEngine().then(() => startContainer(() => new RedisContainer(images.redis).start())))
afterAll(async () => {
  await Promise.allSettled([postgres?.then((c) => c.stop()), redis?.then((c) => c.stop())])
})

/** The pattern copied into a fresh copy of the app, and compiled: tsc's output on failure. */
async function prepare(id: string): Promise<Copy> {
  const pattern = recipe.get(id)
  if (!pattern) throw new Error(`${recipePath} has no pattern=${id} block`)
  const copy = copyPattern(pattern)
  cleanups.push(() => copy.remove())
  const { code, output } = await compile(copy)
  expect(code, `tsc in the copy of pattern ${id} (${copy.dir}):\n${output}`).toBe(0)
  return copy
}

async function run(copy: Copy, env: Record<string, string>, waitFor: 'listening' | 'none' = 'listening'): Promise<ServerProcess> {
  const server = await startServer({ LOG_LEVEL: 'info', ...env }, { entry: copy.entry, waitFor })
  cleanups.push(() => server.stop())
  return server
}

async function upstream(): Promise<Upstream> {
  const u = await startUpstream()
  cleanups.push(() => u.close())
  return u
}

async function terminate(server: ServerProcess) {
  server.child.kill('SIGTERM')
  return server.exited
}

describe(`patterns of ${recipePath}, copied into a foreign Fastify app`, { timeout: TIMEOUT }, () => {
  it('names the six patterns, each with its files and wiring, and no file that nothing imports', () => {
    expect([...recipe.keys()].sort()).toEqual(['clients', 'config', 'metrics', 'migrations', 'probes', 'shutdown'])
    for (const pattern of recipe.values()) {
      expect(pattern.files.length, pattern.id).toBeGreaterThan(0)
      expect(pattern.wiring.length, pattern.id).toBeGreaterThan(0)
      // Missing files fail the copy's tsc below; superfluous ones fail here.
      expect(unreachedFiles(pattern, (from) => readFileSync(`${repoRoot}${from}`, 'utf8')), pattern.id).toEqual([])
    }
  })

  it(
    'probes and readiness: /health, /startup and /ready answer; /ready fails with the dependency',
    async () => {
      const copy = await prepare('probes')
      const up = await upstream()
      const server = await run(copy, { UPSTREAM_URL: up.url })
      const health = await getJson<{ status: string }>(`${server.url}/health`)
      expect(health).toMatchObject({ status: 200, body: { status: 'ok' }, cacheControl: 'no-store' })
      expect(await getJson(`${server.url}/startup`)).toMatchObject({ status: 200, body: { status: 'started' } })
      expect(await getJson(`${server.url}/ready`)).toMatchObject({ status: 200, body: { status: 'ready', checks: { upstream: { status: 'ok', critical: true } } } })
      up.down = true
      const notReady = await until('/ready 503 with the upstream down', async () => {
        const r = await getJson<{ status: string; reason?: string }>(`${server.url}/ready`)
        return r.status === 503 && r
      })
      expect(notReady.body).toMatchObject({ status: 'not ready', reason: 'upstream: error' })
      // No under-pressure in this app: the probe still answers, never "under pressure".
      expect((await getJson(`${server.url}/health`)).status).toBe(200)
      expect(await terminate(server)).toEqual({ code: 0, signal: null })
    },
  )

  it(
    'shutdown, connections and lifecycle: SIGTERM drains a request in flight, serves during the drain delay with Connection: close, exits 0',
    async () => {
      const copy = await prepare('shutdown')
      const up = await upstream()
      up.workMs = 3000
      const server = await run(copy, { UPSTREAM_URL: up.url, DRAIN_DELAY_MS: '1000', SHUTDOWN_TIMEOUT_MS: '20000' })
      const arrived = up.nextWork()
      const inFlight = fetch(`${server.url}/work`, { signal: AbortSignal.timeout(30_000) })
      await arrived
      server.child.kill('SIGTERM')
      await server.waitForLog((l) => l.msg === 'lifecycle: draining')
      // During the drain delay a new request is served, and told to reconnect elsewhere.
      const during = await fetch(`${server.url}/`, { signal: AbortSignal.timeout(10_000) })
      expect(during.status).toBe(200)
      expect(during.headers.get('connection')).toBe('close')
      const res = await inFlight
      expect(res.status).toBe(200)
      expect(await res.json()).toEqual({ work: { done: true } })
      expect(res.headers.get('connection')).toBe('close')
      expect(await server.exited, server.output()).toEqual({ code: 0, signal: null })
      expect(server.logs.map((l) => l.msg).filter((m) => m.startsWith('lifecycle: '))).toEqual(['lifecycle: ready', 'lifecycle: draining', 'lifecycle: closing', 'lifecycle: closed'])
    },
  )

  it(
    'config: a bad value exits 78 naming the variable; a good one serves',
    async () => {
      const copy = await prepare('config')
      const urls = { UPSTREAM_URL: 'http://upstream.invalid:4000' }
      const badPort = await run(copy, { ...urls, PORT: 'abc' }, 'none')
      expect(await badPort.exited).toEqual({ code: 78, signal: null })
      expect(badPort.output()).toContain('invalid configuration: PORT=abc')
      const noUrl = await run(copy, {}, 'none')
      expect(await noUrl.exited).toEqual({ code: 78, signal: null })
      expect(noUrl.output()).toContain('invalid configuration: UPSTREAM_URL is required')
      const server = await run(copy, urls)
      expect(await getJson(`${server.url}/`)).toMatchObject({ status: 200, body: { root: true } })
      expect(await terminate(server)).toEqual({ code: 0, signal: null })
    },
  )

  it(
    'migrations at startup: applied once against a real Postgres; transient failures retried; a wrong password exits 70',
    async () => {
      const [copy, db] = await Promise.all([prepare('migrations'), startPostgres()])
      const databaseUrl = db.getConnectionUri()
      const migrated = async () => {
        const server = await run(copy, { DATABASE_URL: databaseUrl })
        const ok = await server.waitForLog((l) => l.msg === 'startup: migrations ok', 60_000)
        expect(await getJson(`${server.url}/`)).toMatchObject({ status: 200 })
        expect(await terminate(server)).toEqual({ code: 0, signal: null })
        return (ok.result as { migrationsApplied: number[] }).migrationsApplied
      }
      expect(await migrated()).toEqual([1])
      expect(await migrated()).toEqual([])
      const client = new pg.Client({ connectionString: databaseUrl })
      await client.connect()
      try {
        expect((await client.query(`SELECT to_regclass('notes') IS NOT NULL AS exists`)).rows).toEqual([{ exists: true }])
      } finally {
        await client.end()
      }

      // Nothing listens there: transient, retried until the signal, which exits 0.
      const unreachable = new URL(databaseUrl)
      unreachable.port = String(await freePort())
      const waiting = await run(copy, { DATABASE_URL: unreachable.href })
      await waiting.waitForLog((l) => l.msg === 'startup: migrations not ready, retrying', 60_000)
      expect(await terminate(waiting)).toEqual({ code: 0, signal: null })

      const wrong = new URL(databaseUrl)
      wrong.password = 'wrong-password'
      const refused = await run(copy, { DATABASE_URL: wrong.href })
      expect(await refused.exited).toEqual({ code: 70, signal: null })
      expect(refused.output()).toContain('startup: migrations failed, not retrying')
      expect(refused.output()).not.toContain('wrong-password')
    },
  )

  it(
    'clients as plugins: the pool and the client answer through a route, and close on SIGTERM',
    async () => {
      const [copy, db, cache] = await Promise.all([prepare('clients'), startPostgres(), startRedis()])
      const server = await run(copy, { DATABASE_URL: db.getConnectionUri(), REDIS_URL: `redis://${cache.getHost()}:${cache.getMappedPort(6379)}` })
      const answer = await until('GET /clients answers', async () => {
        const r = await getJson<{ postgres: number; redis: string }>(`${server.url}/clients`)
        return r.status === 200 && r.body
      })
      expect(answer).toEqual({ postgres: 1, redis: 'PONG' })
      expect(await terminate(server)).toEqual({ code: 0, signal: null })
      const messages = server.logs.map((l) => l.msg)
      expect(messages).toContain('postgres: pool closed')
      expect(messages).toContain('redis: client closed')
    },
  )

  it(
    'metrics: the listener serves the request histogram and the lifecycle, with no pool or Redis of its own',
    async () => {
      const copy = await prepare('metrics')
      const up = await upstream()
      const server = await run(copy, { UPSTREAM_URL: up.url })
      for (let i = 0; i < 2; i++) expect((await fetch(`${server.url}/`)).status).toBe(200)
      const scrape = await fetch(server.metricsUrl)
      expect(scrape.status).toBe(200)
      const text = await scrape.text()
      expect(sample(text, 'http_request_duration_seconds_count', { method: 'GET', route: '/', status_code: '200' })).toBe(2)
      expect(sample(text, 'lifecycle_phase', { phase: 'ready' })).toBe(1)
      expect(sample(text, 'nodejs_eventloop_active_seconds_total')).toBeGreaterThan(0)
      expect(text).not.toContain('pg_pool_clients')
      expect(text).not.toContain('redis_connection_state')
      expect(await terminate(server)).toEqual({ code: 0, signal: null })
    },
  )
})
