// Readiness caching against real Postgres: a burst of concurrent probes within the
// cache TTL costs Postgres one query. The counter is Postgres itself: with
// log_statement=all and the application name in each log line, every readiness query
// that reaches the server shows up once in the container's log.
import type { Readable } from 'node:stream'
import { setTimeout as sleep } from 'node:timers/promises'
import pg from 'pg'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { expectAlive, getJson, until, type ReadyBody } from '../helpers/integration-probes.js'
import { startServer, type ServerProcess } from '../helpers/server.js'
import { startStack, type Stack } from '../helpers/stack.js'

const READY_CACHE_TTL_MS = 5000
const BURST = 50
const SEQUENTIAL = 10

let stack: Stack
let server: ServerProcess
let admin: pg.Client
let pgLogStream: Readable
let pgLog = ''

beforeAll(async () => {
  stack = await startStack()
  pgLogStream = await stack.postgres.logs()
  pgLogStream.on('data', (chunk: string | Buffer) => (pgLog += chunk.toString()))
  admin = new pg.Client({ connectionString: stack.directDatabaseUrl, application_name: 'test-admin' })
  await admin.connect()
  // ALTER SYSTEM cannot run in a transaction block: one statement per query.
  await admin.query(`ALTER SYSTEM SET log_statement = 'all'`)
  await admin.query(`ALTER SYSTEM SET log_line_prefix = '%m [%p] app=%a '`)
  await admin.query('SELECT pg_reload_conf()')
  server = await startServer({
    DATABASE_URL: stack.databaseUrl,
    REDIS_URL: stack.redisUrl,
    READY_CACHE_TTL_MS: String(READY_CACHE_TTL_MS),
    READY_CHECK_TIMEOUT_MS: '2000',
  })
})

afterAll(async () => {
  pgLogStream?.destroy()
  await admin?.end()
  await server?.stop()
  await stack?.stop()
})

let marks = 0
/**
 * Runs a uniquely tagged statement and waits until Postgres has logged it: every
 * statement that completed before it is then in `pgLog` too. Returns the log so far.
 */
async function pgLogUpToNow(): Promise<string> {
  const tag = `mark-${++marks}-${process.pid}`
  await admin.query(`SELECT '${tag}'`)
  await until(`Postgres logged ${tag}`, async () => pgLog.includes(tag), { timeoutMs: 15_000 })
  return pgLog
}

/** Readiness queries from the service that reached Postgres, in a slice of its log. */
const readinessQueries = (log: string) => log.split('\n').filter((l) => /app=service-template\/readiness .*statement: SELECT 1\s*$/.test(l)).length

describe('readiness cache', () => {
  it(`${BURST} concurrent then ${SEQUENTIAL} sequential /ready within the TTL cost Postgres one query; after the TTL, one more`, async () => {
    // The statement log must be live, or the counts below would be zeros that prove nothing.
    const { rows } = await admin.query<{ log_statement: string }>('SHOW log_statement')
    expect(rows[0]?.log_statement).toBe('all')

    // Start from an expired cache: the warm-up's readiness round (startup.ts) has aged out,
    // so the first probe runs one.
    await sleep(READY_CACHE_TTL_MS + 250)
    const before = (await pgLogUpToNow()).length
    const burst = await Promise.all(Array.from({ length: BURST }, () => getJson<ReadyBody>(`${server.url}/ready`)))
    for (const res of burst) expect(res.status, res.raw).toBe(200)
    // One report served to all: identical bodies, latencies included.
    expect(new Set(burst.map((r) => r.raw)).size).toBe(1)
    // Then probes one after another, still within the TTL: answered from the cache, not
    // merely coalesced while a check is in flight.
    for (let i = 0; i < SEQUENTIAL; i++) {
      const res = await getJson<ReadyBody>(`${server.url}/ready`)
      expect(res.status, res.raw).toBe(200)
      expect(res.raw).toBe(burst[0]?.raw)
    }
    const afterBurst = await pgLogUpToNow()
    expect(readinessQueries(afterBurst.slice(before))).toBe(1)

    // Once the TTL has passed, the next probe checks again: the counter does count probes.
    await sleep(READY_CACHE_TTL_MS + 250)
    const again = await getJson<ReadyBody>(`${server.url}/ready`)
    expect(again.status, again.raw).toBe(200)
    const afterTtl = await pgLogUpToNow()
    expect(readinessQueries(afterTtl.slice(afterBurst.length))).toBe(1)

    expectAlive(server)
  })
})
