// The built server at startup, against real Postgres and Redis. A dependency that is
// wrong (password, database name) cannot be waited out: the process exits at once with
// one line and a distinct code, instead of retrying until the startup probe kills it.
// One that is busy (another replica's migration lock, a locked table) is waited for,
// whatever PG_QUERY_TIMEOUT_MS, and a process that stops leaves no backend behind.
import { Redis } from 'ioredis'
import pg from 'pg'
import { setTimeout as sleep } from 'node:timers/promises'
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { MIGRATION_LOCK_KEY } from '../../src/migrate.js'
import { EXIT_STARTUP_FAILED } from '../../src/startup.js'
import { fixtureMigrations } from '../fixtures/migrations.js'
import { until } from '../helpers/integration-probes.js'
import { emptyDatabase, migrationBackends, pollingForLock } from '../integration/migration-db.js'
import type { ServerProcess } from '../helpers/server.js'
import { serversOnStack } from '../helpers/suite.js'
import { runNode } from '../helpers/server.js'

const WRONG = 'wrong-pw-4821'
const suite = serversOnStack()
let db: pg.Pool // the test's own connections

beforeAll(async () => {
  db = new pg.Pool({ connectionString: suite.stack.directDatabaseUrl, max: 4 })
  // A Redis user with a password, so that a wrong one is refused (the default user has none).
  const redis = new Redis(suite.stack.redisUrl)
  await redis.call('ACL', 'SETUSER', 'svc', 'on', '>right-pw', '~*', '&*', '+@all')
  await redis.quit()
})
afterAll(async () => {
  await db?.end()
})
beforeEach(() => emptyDatabase(db))

function databaseUrl(change: (url: URL) => void): string {
  const url = new URL(suite.stack.directDatabaseUrl)
  change(url)
  return url.href
}

describe('permanent failures exit at once', () => {
  it.each([
    ['a wrong Postgres password', () => ({ DATABASE_URL: databaseUrl((u) => (u.password = WRONG)) }), 'postgres failed, not retrying: 28P01: password authentication failed for user "app"'],
    ['a missing database', () => ({ DATABASE_URL: databaseUrl((u) => (u.pathname = '/nope')) }), 'postgres failed, not retrying: 3D000: database "nope" does not exist'],
    ['a wrong Redis password', () => ({ REDIS_URL: suite.stack.redisUrl.replace('redis://', `redis://svc:${WRONG}@`) }), 'redis failed, not retrying: WRONGPASS'],
  ])(`%s: exit ${EXIT_STARTUP_FAILED} within seconds, one fatal line naming the cause, no secret, no stack`, async (_, env, cause) => {
    const started = performance.now()
    const s = await suite.start(env(), { waitFor: 'none' })
    const exit = await Promise.race([s.exited, sleep(15_000).then(() => undefined)])
    expect(exit, `still running after 15 s; output:\n${s.output()}`).toEqual({ code: EXIT_STARTUP_FAILED, signal: null })
    expect(performance.now() - started).toBeLessThan(15_000)
    const fatal = s.logs.filter((l) => l.level === 'fatal')
    expect(fatal).toHaveLength(1)
    expect(fatal[0]!.msg).toContain(`startup: ${cause}`)
    expect(s.logs.filter((l) => l.msg.includes('not ready, retrying'))).toEqual([])
    const out = s.output()
    for (const secret of [WRONG, 's3cret-pw', 'right-pw']) expect(out).not.toContain(secret)
    // Only JSON lines: no stack trace from an unhandled rejection.
    expect(out.split('\n').filter((line) => line !== '' && !line.startsWith('{'))).toEqual([])
  })
})

describe('busy dependencies are waited for', () => {
  it("PG_QUERY_TIMEOUT_MS=1: waits for another replica's migration lock (3 s), then migrates and becomes ready", async () => {
    const holder = await db.connect()
    try {
      await holder.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK_KEY])
      const s = await suite.start({ PG_QUERY_TIMEOUT_MS: '1' }, { waitFor: 'listening' })
      await until('the migration polling for the lock', () => pollingForLock(db))
      await sleep(3000)
      expect((await fetch(`${s.url}/startup`)).status).toBe(503)
      await holder.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK_KEY])
      await s.waitForLog((l) => l.lifecycle === 'ready', 30_000)
      expect(s.logs.find((l) => l.msg === 'startup: postgres ok')).toMatchObject({ result: { migrationsApplied: fixtureMigrations.map((m) => m.id) } })
      expect(s.logs.filter((l) => l.msg.includes('not ready, retrying'))).toEqual([])
      expect((await fetch(`${s.url}/startup`)).status).toBe(200)
    } finally {
      holder.release(true)
    }
  })

  // The migration's first query waits on a table another session has locked: its backend
  // is busy in a statement, the case where the server does not read the client's goodbye.
  async function blockedMigration(): Promise<{ blocker: pg.PoolClient; backend: number; s: ServerProcess }> {
    await db.query('CREATE TABLE schema_migrations (id integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())')
    const blocker = await db.connect()
    await blocker.query('BEGIN')
    await blocker.query('LOCK TABLE schema_migrations IN ACCESS EXCLUSIVE MODE')
    const server = await suite.start({ DRAIN_DELAY_MS: '0' }, { waitFor: 'listening' })
    const backend = await until('the migration waiting on the table lock', async () => (await migrationBackends(db)).find((b) => b.wait_event_type === 'Lock')?.pid)
    return { blocker, backend, s: server }
  }

  it.each(['SIGTERM', 'SIGKILL'] as const)('%s mid-statement: the backend does not stay behind', async (signal) => {
    const { blocker, backend, s } = await blockedMigration()
    try {
      s.child.kill(signal)
      const exit = await s.exited
      expect(exit).toEqual(signal === 'SIGTERM' ? { code: 0, signal: null } : { code: null, signal: 'SIGKILL' })
      // The server notices the closed connection (client_connection_check_interval) while
      // the lock the backend waits for is still held: old code left it waiting, to run
      // the migration later for a process that is gone.
      await until('the backend gone', async () => !(await migrationBackends(db)).some((b) => b.pid === backend), { timeoutMs: 10_000 })
      const { rows } = await db.query(`SELECT 1 FROM pg_locks WHERE pid = $1`, [backend])
      expect(rows).toEqual([])
    } finally {
      await blocker.query('ROLLBACK')
      blocker.release()
    }
  })
})

describe('migrations as a Job (the chart\'s migrations.job.enabled)', () => {
  // The fixture's job (dist/migrate-job.js's main() with the fixture's migrations), so the
  // fixture server started after it has the same list.
  it('the migration job applies the migrations and exits 0; a pod started after it has none left to apply', async () => {
    const ids = fixtureMigrations.map((m) => m.id)
    const job = await runNode('test/fixtures/migrate-job.ts', { DATABASE_URL: suite.stack.directDatabaseUrl, REDIS_URL: suite.stack.redisUrl })
    expect(job.code, job.output).toBe(0)
    expect(job.lines.find((l) => l.msg === 'migrations: done')).toMatchObject({ migrationsApplied: ids })
    const { rows } = await db.query<{ id: number }>('SELECT id FROM schema_migrations ORDER BY id')
    expect(rows.map((r) => r.id)).toEqual(ids)
    const s = await suite.start()
    expect(s.logs.find((l) => l.msg === 'startup: postgres ok')).toMatchObject({ result: { migrationsApplied: [] } })
  })

  it('dist/migrate-job.js: a permanent failure exits 70 with one fatal line, no secret; bad configuration exits 78', async () => {
    const job = await runNode('dist/migrate-job.js', { DATABASE_URL: databaseUrl((u) => (u.password = WRONG)), REDIS_URL: suite.stack.redisUrl })
    expect(job.code, job.output).toBe(EXIT_STARTUP_FAILED)
    expect(job.lines.filter((l) => l.level === 'fatal').map((l) => l.msg)).toEqual([expect.stringContaining('28P01: password authentication failed') as string])
    expect(job.output).not.toContain(WRONG)
    const bad = await runNode('dist/migrate-job.js', { DATABASE_URL: 'mysql://db/app', REDIS_URL: suite.stack.redisUrl })
    expect(bad.code).toBe(78)
    expect(bad.output).toContain('invalid configuration: DATABASE_URL has protocol "mysql:"')
  })
})
