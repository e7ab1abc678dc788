// Fault injection against the built server: real Postgres and Redis behind Toxiproxy,
// with every connection of the service going through it. Each dependency is cut,
// slowed and blackholed in turn; throughout, /ready must report the failed dependency
// (503 for Postgres, 200 "degraded" for the Redis cache), within its time budget even
// while the dependency hangs, /health
// must stay 200, the process must never crash, and readiness must come back once the
// fault is removed. Scenarios run in order, against one server process.
import type { CreatedProxy } from '@testcontainers/toxiproxy'
import { setTimeout as sleep } from 'node:timers/promises'
import pg from 'pg'
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import {
  expectAlive,
  getJson,
  until,
  type Dependency,
  type HealthBody,
  type ProbeResult,
  type ReadyBody,
} from '../helpers/integration-probes.js'
import { FIXTURE_ROWS } from '../fixtures/routes.js'
import { connectionsTo } from '../helpers/integration-sockets.js'
import { startServer, type ServerProcess } from '../helpers/server.js'
import { startStack, type Stack } from '../helpers/stack.js'

const READY_CHECK_TIMEOUT_MS = 1000
/**
 * What a probe may take at most: the check timeout plus generous slack for a loaded
 * 2-core machine, still below the injected latency (SLOW_MS) and the blackhole's
 * forever: the bound is about the probe not waiting on the dependency, not about speed.
 */
const READY_BUDGET_MS = READY_CHECK_TIMEOUT_MS + 2000
const HEALTH_BUDGET_MS = 2000
const SLOW_MS = 4000
/** ioredis reconnects with a backoff capped at 5 s; pg's connect timeout is 5 s. */
const RECOVERY_MS = 30_000
const PASSWORD = 's3cret-pw'

let stack: Stack
let server: ServerProcess
/** Every probe body the server sent, to check none ever leaks a secret. */
const probeBodies: string[] = []

beforeAll(async () => {
  stack = await startStack({ toxiproxy: true })
  server = await startServer({
    DATABASE_URL: stack.databaseUrl,
    REDIS_URL: stack.redisUrl,
    READY_CHECK_TIMEOUT_MS: String(READY_CHECK_TIMEOUT_MS),
    // Every probe runs the checks: the tests observe the dependency, not a cached answer.
    READY_CACHE_TTL_MS: '0',
    PG_QUERY_TIMEOUT_MS: '2000',
    REDIS_COMMAND_TIMEOUT_MS: '1000',
  })
})

afterAll(async () => {
  await server?.stop()
  await stack?.stop()
})

beforeEach(async () => {
  // Each scenario starts from a healthy service, whatever the previous one left behind.
  await untilReady('ready before the scenario')
  // stdout may trail the probe's response: wait until the log has caught up with the
  // flip to ready, so a scenario's log slice holds only its own flips.
  await until('readiness: ready logged', async () => server.logs.findLast((l) => l.msg.startsWith('readiness: '))?.msg === 'readiness: ready', {
    timeoutMs: 5000,
  })
})

afterEach(() => {
  expectAlive(server)
  for (const body of probeBodies) {
    expect(body).not.toContain(PASSWORD)
    expect(body).not.toContain('postgres://')
  }
  const output = server.output()
  expect(output).not.toContain(PASSWORD)
  // Nothing but structured log lines: no stray console output, unhandled-error notices
  // or runtime warnings (MaxListenersExceeded, ...) on stdout or stderr.
  const unstructured = output.split('\n').filter((line) => line.trim() !== '' && !isJson(line))
  expect(unstructured).toEqual([])
})

function isJson(line: string): boolean {
  try {
    JSON.parse(line)
    return true
  } catch {
    return false
  }
}

function proxyOf(dep: Dependency): CreatedProxy {
  const proxy = stack.proxies?.[dep]
  if (!proxy) throw new Error('stack started without toxiproxy')
  return proxy
}

const otherThan = (dep: Dependency): Dependency => (dep === 'postgres' ? 'redis' : 'postgres')

/** GET /ready: always no-store, always within budget, whatever the dependencies do. */
async function ready(): Promise<ProbeResult<ReadyBody>> {
  const res = await getJson<ReadyBody>(`${server.url}/ready`)
  probeBodies.push(res.raw)
  expect(res.cacheControl).toBe('no-store')
  expect(res.ms, `/ready took ${Math.round(res.ms)} ms: ${res.raw}`).toBeLessThan(READY_BUDGET_MS)
  return res
}

/** GET /health: 200, fast, no-store, in every state. */
async function health(): Promise<void> {
  const res = await getJson<HealthBody>(`${server.url}/health`)
  probeBodies.push(res.raw)
  expect(res.status).toBe(200)
  expect(res.body).toEqual({ status: 'ok' })
  expect(res.cacheControl).toBe('no-store')
  expect(res.ms, `/health took ${Math.round(res.ms)} ms`).toBeLessThan(HEALTH_BUDGET_MS)
}

/** Polls until /ready reports `dep`'s check failing (503 for Postgres, 200 degraded for Redis). */
function untilFailing(dep: Dependency, what: string): Promise<ProbeResult<ReadyBody>> {
  return until(
    what,
    async () => {
      await health()
      const res = await ready()
      return res.body.checks?.[dep]?.status === 'fail' && res
    },
    { timeoutMs: 20_000 },
  )
}

async function untilReady(what: string): Promise<void> {
  // 200 alone is not enough: with the Redis cache down /ready is 200 too, degraded.
  const res = await until(
    what,
    async () => {
      await health()
      const r = await ready()
      return r.status === 200 && !r.body.degraded && r
    },
    { timeoutMs: RECOVERY_MS },
  )
  expect(res.body.status).toBe('ready')
  expect(res.body.checks?.postgres?.status).toBe('ok')
  expect(res.body.checks?.redis?.status).toBe('ok')
}

/**
 * The readiness policy: Postgres is critical (503 naming it), the Redis cache is not
 * (200, degraded, naming it): a cache outage must not take every replica out of the
 * Service. Either way the failed check is named with a short cause, the other one fine.
 */
function expectFailing(dep: Dependency, res: ProbeResult<ReadyBody>): void {
  if (dep === 'postgres') {
    expect(res.status, res.raw).toBe(503)
    expect(res.body.status).toBe('not ready')
    expect(res.body.reason).toMatch(new RegExp(`^${dep}: \\S`))
    expect(res.body.reason).not.toContain(`${otherThan(dep)}:`)
  } else {
    expect(res.status, res.raw).toBe(200)
    expect(res.body.status).toBe('ready')
    expect(res.body.degraded).toBe(true)
    expect(res.body.degradedReason).toMatch(new RegExp(`^${dep}: \\S`))
  }
  expect(res.body.checks?.[dep]).toMatchObject({ status: 'fail', critical: dep === 'postgres', reason: expect.any(String) as string })
  // A short cause, never an address or port: /ready answers anyone who reaches the port.
  expect(res.body.checks?.[dep]?.reason).toMatch(/^[a-z ]+$/)
  expect(res.body.checks?.[otherThan(dep)]?.status).toBe('ok')
}

/**
 * While the fault lasts (`holdMs`): every probe reports `dep` failing, /health 200 in between.
 * Returns the connections the service opened to `dep` meanwhile.
 */
async function expectStaysFailing(dep: Dependency, holdMs: number, check: (res: ProbeResult<ReadyBody>) => void = () => {}) {
  const pid = server.child.pid ?? 0
  const port = proxyOf(dep).port
  const before = connectionsTo(pid, port)
  const opened = new Set<string>()
  const end = performance.now() + holdMs
  let probes = 0
  while (probes < 3 || performance.now() < end) {
    await health()
    const res = await ready()
    probes++
    expectFailing(dep, res)
    check(res)
    for (const conn of connectionsTo(pid, port)) if (!before.has(conn)) opened.add(conn)
    await sleep(250)
  }
  return { probes, opened: opened.size }
}

/** The changes are logged once each, naming the dependency: what an operator greps for. */
async function expectTransitionsLogged(dep: Dependency, logsBefore: number): Promise<void> {
  const since = (prefix: string) => server.logs.slice(logsBefore).filter((l) => l.msg.startsWith(prefix))
  // stdout may reach us a moment after the probe's response did, a line at a time.
  const flipsExpected = dep === 'postgres' ? 2 : 0
  const checkLines = await until(
    'check failure and recovery logged',
    async () => since(`readiness check ${dep} `).length >= 2 && since('readiness: ').length >= flipsExpected && since(`readiness check ${dep} `),
    { timeoutMs: 5000 },
  )
  expect(checkLines.map((l) => l.msg)).toEqual([
    `readiness check ${dep} failed: ${dep === 'postgres' ? 'failing readiness' : 'degraded, still ready'}`,
    `readiness check ${dep} recovered`,
  ])
  expect(checkLines[0]).toMatchObject({ level: 'warn', check: dep, critical: dep === 'postgres', cause: expect.any(String) as string })
  // The log line, unlike the probe body, carries the error's own words.
  expect(checkLines[0]?.error).toEqual(expect.any(String))
  const flips = since('readiness: ')
  if (dep === 'redis') {
    expect(flips).toEqual([])
    return
  }
  expect(flips.map((l) => l.msg)).toEqual(['readiness: not ready', 'readiness: ready'])
  expect(JSON.stringify(flips[0])).toContain(`"reason":"${dep}: `)
  expect(flips[0]?.level).toBe('warn')
}

// Toxics on the downstream stream (dependency -> service): requests get through, answers don't.
const hangs = [
  // Slower than the check timeout: every check times out, none errors.
  { fault: 'slow', type: 'latency', attributes: { latency: SLOW_MS, jitter: 0 } },
  // Blackhole: answers are held back, the connection never closes or errors.
  { fault: 'blackhole', type: 'timeout', attributes: { timeout: 0 } },
] as const

/** How long each fault is held while probing: several probe rounds, several reconnect attempts. */
const HOLD_MS = 4000
/** New connections the service may open to a hanging dependency during HOLD_MS. */
const MAX_NEW_CONNECTIONS: Record<Dependency, number> = { postgres: 2, redis: 2 }

describe.each(['postgres', 'redis'] as const)('%s faults', (dep) => {
  it(`cut (proxy disabled): /ready reports ${dep} failing, /health 200, then ready again once restored`, async () => {
    const logsBefore = server.logs.length
    await proxyOf(dep).setEnabled(false)
    try {
      const first = await untilFailing(dep, `/ready reports ${dep} failing after the cut`)
      expectFailing(dep, first)
      await expectStaysFailing(dep, HOLD_MS)
    } finally {
      await proxyOf(dep).setEnabled(true)
    }
    await untilReady(`/ready 200 after restoring ${dep}`)
    await expectTransitionsLogged(dep, logsBefore)
  })

  it.each(hangs)(
    `$fault: /ready reports ${dep} timing out, every probe within budget, no pile-up, then ready again`,
    async ({ fault, type, attributes }) => {
      const logsBefore = server.logs.length
      // Positive control for the connection count below: the lookup sees the service's
      // open connections to the dependency (the pool's minimum, the readiness check's
      // own, the Redis client), so a count of 0 new ones is a count, not a miss.
      expect(connectionsTo(server.child.pid ?? 0, proxyOf(dep).port).size).toBeGreaterThan(0)
      const toxic = await proxyOf(dep).instance.addToxic<typeof attributes>({
        name: `${dep}-${fault}`,
        type,
        stream: 'downstream',
        toxicity: 1,
        attributes,
      })
      try {
        const first = await untilFailing(dep, `/ready reports ${dep} failing with ${fault}`)
        expectFailing(dep, first)
        // Several rounds while it hangs: each probe within budget (ready() asserts it),
        // and checks of earlier rounds must not pile up, each opening a new connection.
        const { probes, opened } = await expectStaysFailing(dep, HOLD_MS, (res) =>
          // Redis: once socketTimeout declares the hung connection dead, ioredis
          // reconnects, and a PING meanwhile fails at once: "not connected".
          expect(res.body.checks?.[dep]?.reason).toMatch(dep === 'postgres' ? /^timeout$/ : /^(timeout|not connected)$/),
        )
        // Postgres: the first round's query times out and its connection is dropped, the
        // next round opens one that hangs in the handshake (up to pg's 5 s connect
        // timeout), and later rounds wait on that same attempt. Redis: the connection is
        // kept until ioredis' socketTimeout (5 s) declares it dead and reconnects once.
        // Without the single-flight checks, every round would open another connection.
        expect(probes).toBeGreaterThanOrEqual(3)
        expect(opened, `connections opened to ${dep} during ${probes} probe rounds`).toBeLessThanOrEqual(MAX_NEW_CONNECTIONS[dep])
      } finally {
        await toxic.remove()
      }
      await untilReady(`/ready 200 after removing the ${dep} ${fault}`)
      await expectTransitionsLogged(dep, logsBefore)
    },
  )
})

describe('postgres backends terminated', () => {
  it('pg_terminate_backend on the pool: the process stays up, logs the lost connections, and recovers', async () => {
    // Open several pool connections, which stay idle in the pool afterwards.
    const warmup = await Promise.all(Array.from({ length: 5 }, () => getJson<{ rows: number }>(`${server.url}/fixture/db`)))
    for (const res of warmup) expect(res.status, res.raw).toBe(200)

    const logsBefore = server.logs.length
    const admin = new pg.Client({ connectionString: stack.directDatabaseUrl })
    await admin.connect()
    let terminated: number
    try {
      const { rows } = await admin.query<{ terminated: number }>(
        `SELECT count(*) FILTER (WHERE t)::int AS terminated FROM (
           SELECT pg_terminate_backend(pid) AS t FROM pg_stat_activity
           WHERE application_name = 'service-template' AND pid <> pg_backend_pid()) s`,
      )
      terminated = rows[0]?.terminated ?? 0
    } finally {
      await admin.end()
    }
    expect(terminated).toBeGreaterThanOrEqual(1)

    // Each killed idle connection is reported once, as a warning, and crashes nothing.
    const lost = () => server.logs.slice(logsBefore).filter((l) => l.msg === 'postgres: idle connection lost')
    await until('a warning per terminated connection', async () => lost().length >= terminated)
    expect(lost()).toHaveLength(terminated)
    for (const line of lost()) {
      expect(line.level).toBe('warn')
      // admin_shutdown: what pg_terminate_backend sends before closing the connection.
      expect(line).toMatchObject({ code: '57P01' })
    }

    await untilReady('/ready 200 after the backends were terminated')
    const rows = await until('/fixture/db 200 after the backends were terminated', async () => {
      const res = await getJson<{ rows: number }>(`${server.url}/fixture/db`)
      return res.status === 200 && res
    })
    expect(rows.body).toEqual({ rows: FIXTURE_ROWS })
  })
})
