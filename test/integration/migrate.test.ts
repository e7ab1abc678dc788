// Migrations against a real Postgres, as a rollout runs them: several replicas at once,
// long steps, old pods' transactions in the way, a shutdown signal mid-migration. The
// test watches the server side (pg_locks, pg_stat_activity) through its own connection.
import type { FastifyInstance } from 'fastify'
import pg from 'pg'
import { setTimeout as sleep } from 'node:timers/promises'
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest'
import { buildApp } from '../../src/app.js'
import { loadConfig } from '../../src/config.js'
import { MIGRATION_LOCK_KEY, migrate, type Migration } from '../../src/migrate.js'
import { EXIT_STARTUP_FAILED, PermanentStartupError, initialise } from '../../src/startup.js'
import { until } from '../helpers/integration-probes.js'
import { emptyDatabase, migrationBackends, pollingForLock } from './migration-db.js'
import { startStack, type Stack } from '../helpers/stack.js'

let stack: Stack
let db: pg.Pool // the test's own connections: no timeouts
const apps: FastifyInstance[] = []

beforeAll(async () => {
  stack = await startStack()
  db = new pg.Pool({ connectionString: stack.directDatabaseUrl, max: 4 })
})
afterAll(async () => {
  await db?.end()
  await stack?.stop()
})
beforeEach(() => emptyDatabase(db))
afterEach(async () => {
  await Promise.all(apps.splice(0).map((app) => app.close()))
})

/** The app as server.ts builds it, with its real pool and dedicated-client settings. */
async function app(env: Record<string, string> = {}): Promise<FastifyInstance> {
  const built = await buildApp(loadConfig({ DATABASE_URL: stack.databaseUrl, REDIS_URL: stack.redisUrl, LOG_LEVEL: 'silent', ...env }))
  apps.push(built)
  return built
}
const connectVia = (a: FastifyInstance) => () => a.pgDedicatedClient('migrate')

// The tests' own first migration (a table, as a service's first migration creates), so
// they depend on no migration of the service's.
const migrations: readonly Migration[] = [
  { id: 1, name: 'create notes', sql: 'CREATE TABLE IF NOT EXISTS notes (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, name text NOT NULL)' },
]

const waitingForMigrationLock = () => until('a migration polling for the advisory lock', () => pollingForLock(db))
async function appliedIds(): Promise<number[]> {
  const { rows } = await db.query<{ id: number }>('SELECT id FROM schema_migrations ORDER BY id')
  return rows.map((r) => r.id)
}

it('concurrent replicas apply each migration exactly once', async () => {
  const connect = () => new pg.Client({ connectionString: stack.directDatabaseUrl })
  const applied = await Promise.all(Array.from({ length: 6 }, () => migrate({ connect, migrations })))
  const ids = migrations.map((m) => m.id)
  // One replica applied everything; the others waited on the lock and found it done.
  expect(applied.filter((a) => a.length > 0)).toEqual([ids])
  expect(applied.filter((a) => a.length === 0)).toHaveLength(5)
  expect(await appliedIds()).toEqual(ids)
  // And again on the next rollout: nothing to do.
  expect(await migrate({ connect, migrations })).toEqual([])
})

describe('own connection: never cut by PG_QUERY_TIMEOUT_MS', () => {
  it.each(['1', '1000'])('PG_QUERY_TIMEOUT_MS=%s: a 2 s migration completes', async (timeout) => {
    const a = await app({ PG_QUERY_TIMEOUT_MS: timeout })
    // The app's own queries are bounded (that is the point of the setting)...
    await expect(a.pg.query('SELECT pg_sleep(2)')).rejects.toThrow(/timeout/i)
    // ...the migration is not.
    const slow: Migration[] = [{ id: 1, name: 'slow', sql: 'SELECT pg_sleep(2)' }]
    expect(await migrate({ connect: connectVia(a), migrations: slow })).toEqual([1])
    expect(await appliedIds()).toEqual([1])
  })

  it("PG_QUERY_TIMEOUT_MS=1000: waits 3 s for another replica's lock, then migrates; nothing pending: no wait", async () => {
    const a = await app({ PG_QUERY_TIMEOUT_MS: '1000' })
    const holder = await db.connect()
    try {
      await holder.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK_KEY])
      const migrating = migrate({ connect: connectVia(a), migrations })
      await waitingForMigrationLock()
      await sleep(3000)
      await holder.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK_KEY])
      expect(await migrating).toEqual([1])

      // An old pod restarting mid-rollout, while a new one holds the lock for a long
      // migration: it has nothing pending, so it does not wait.
      await holder.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK_KEY])
      const started = performance.now()
      expect(await migrate({ connect: connectVia(a), migrations })).toEqual([])
      expect(performance.now() - started).toBeLessThan(5000)
    } finally {
      holder.release(true)
    }
  })
})

it('an ALTER behind a long transaction times out on its lock and retries with backoff; application queries on the table are not stuck behind it; it applies once the transaction ends', async () => {
  // A query timeout far above LOCK_TIMEOUT_MS, so a loaded machine cannot fail the
  // application's queries below: what is asserted is that they are not stuck behind the
  // ALTER (without its lock_timeout they would wait until the blocker commits: never).
  const a = await app({ PG_QUERY_TIMEOUT_MS: '20000' })
  await migrate({ connect: connectVia(a), migrations })
  // An old pod's long transaction that has read the table.
  const blocker = await db.connect()
  await blocker.query('BEGIN')
  await blocker.query('SELECT count(*) FROM notes')
  const blockerPid = (await blocker.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]!.pid
  const warn = vi.spyOn(a.log, 'warn')
  const retries = () =>
    warn.mock.calls.filter(([, msg]) => msg === 'startup: postgres not ready, retrying').map(([obj]) => obj as { attempt: number; reason: string })
  const lockTimeouts = () => retries().filter((r) => /55P03: .*lock timeout/.test(r.reason)).length
  const list: Migration[] = [...migrations, { id: 2, name: 'add note', sql: 'ALTER TABLE notes ADD COLUMN note text' }]
  const starting = new AbortController()
  const initialising = initialise(a, starting.signal, { migrations: list })
  let asserted = false
  try {
    await until('a first lock timeout', async () => lockTimeouts() >= 1, { timeoutMs: 30_000 })
    // While the migration keeps retrying, the application's queries on that table get
    // through, each within the app's own query timeout (old code: queued behind the
    // ALTER until the blocker ends, failing with a timeout).
    for (let i = 0; i < 4; i++) {
      const { rows } = await a.pg.query<{ n: string }>('SELECT count(*) AS n FROM notes')
      expect(rows[0]!.n).toBe('0')
      await sleep(500)
    }
    await until('retried after another lock timeout', async () => lockTimeouts() >= 2, { timeoutMs: 30_000 })
    const { rows } = await db.query<{ state: string }>('SELECT state FROM pg_stat_activity WHERE pid = $1', [blockerPid])
    expect(rows[0]?.state).toBe('idle in transaction')
    expect(retries().map((r) => r.attempt)).toEqual(retries().map((_, i) => i + 1))
    asserted = true
  } finally {
    await blocker.query('COMMIT')
    blocker.release()
    // A failed assertion must not leave the migration running into the next test.
    if (!asserted) {
      starting.abort()
      await initialising.catch(() => undefined)
    }
  }
  await initialising
  expect(await appliedIds()).toEqual([1, 2])
  const { rows } = await db.query(`SELECT 1 FROM information_schema.columns WHERE table_name = 'notes' AND column_name = 'note'`)
  expect(rows).toHaveLength(1)
})

describe('giving up (shutdown signal during startup) leaves no backend behind', () => {
  /** Aborts `migrating`, which must reject at once; then its backend must go (in about a second). */
  async function giveUp(abort: AbortController, migrating: Promise<unknown>) {
    const started = performance.now()
    abort.abort()
    await expect(migrating).rejects.toMatchObject({ name: 'AbortError' })
    expect(performance.now() - started).toBeLessThan(2000)
    await until('no migration backend left', async () => (await migrationBackends(db)).length === 0, { timeoutMs: 10_000 })
  }

  it('while waiting for the lock', async () => {
    const a = await app()
    const holder = await db.connect()
    try {
      await holder.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK_KEY])
      const abort = new AbortController()
      const migrating = migrate({ connect: connectVia(a), migrations, signal: abort.signal })
      await waitingForMigrationLock()
      await giveUp(abort, migrating)
    } finally {
      holder.release(true)
    }
  })

  it('while a statement runs: the server ends it, rolls back and releases the lock', async () => {
    const a = await app()
    const abort = new AbortController()
    const long: Migration[] = [{ id: 1, name: 'long', sql: 'SELECT pg_sleep(60)' }]
    const migrating = migrate({ connect: connectVia(a), migrations: long, signal: abort.signal })
    await until('the statement running', async () => (await migrationBackends(db)).some((b) => b.state === 'active' && b.query.includes('pg_sleep')))
    await giveUp(abort, migrating)
    expect(await appliedIds()).toEqual([])
    const { rows } = await db.query(`SELECT 1 FROM pg_locks WHERE locktype = 'advisory'`)
    expect(rows).toEqual([])
  })
})

describe('one transaction per migration', () => {
  const list: Migration[] = [
    ...migrations,
    { id: 2, name: 'create tags', sql: 'CREATE TABLE tags (name text PRIMARY KEY)' },
    { id: 3, name: 'broken', sql: 'ALTER TABLE no_such_table ADD COLUMN x int' },
  ]

  it('a failing migration rolls back alone; those before it stay applied', async () => {
    const connect = () => new pg.Client({ connectionString: stack.directDatabaseUrl })
    const failure = await migrate({ connect, migrations: list }).catch((err: unknown) => err)
    expect(failure).toMatchObject({ code: '42P01', message: expect.stringContaining('migration 3 (broken)') as unknown })
    expect(await appliedIds()).toEqual([1, 2])
    const { rows } = await db.query<{ t: string | null }>(`SELECT to_regclass('tags') AS t`)
    expect(rows[0]?.t).toBe('tags')
  })

  it('at startup, an SQL error is permanent: one fatal line naming it, no retries', async () => {
    const a = await app()
    const log = { warn: vi.spyOn(a.log, 'warn'), fatal: vi.spyOn(a.log, 'fatal') }
    const failure = await initialise(a, new AbortController().signal, { migrations: list }).catch((err: unknown) => err)
    expect(failure).toBeInstanceOf(PermanentStartupError)
    expect(failure).toMatchObject({ exitCode: EXIT_STARTUP_FAILED })
    expect(log.warn).not.toHaveBeenCalled()
    expect(log.fatal).toHaveBeenCalledTimes(1)
    expect(log.fatal.mock.calls[0]![1]).toBe(
      'startup: postgres failed, not retrying: 42P01: migration 3 (broken): relation "no_such_table" does not exist',
    )
  })
})

describe('migrations outside a transaction (CREATE INDEX CONCURRENTLY)', () => {
  // The documented pattern (docs/migrations.md): drop what a failed attempt left, then build.
  const byName = (id: number, unique = false): Migration => ({
    id,
    name: 'index notes by name',
    transaction: false,
    sql: ['DROP INDEX CONCURRENTLY IF EXISTS notes_name_idx', `CREATE ${unique ? 'UNIQUE ' : ''}INDEX CONCURRENTLY notes_name_idx ON notes (name)`],
  })
  const indexValid = async () => {
    const { rows } = await db.query<{ valid: boolean }>(`SELECT indisvalid AS valid FROM pg_index WHERE indexrelid = to_regclass('notes_name_idx')`)
    return rows[0]?.valid
  }

  it('applies once across concurrent replicas, the index valid', async () => {
    const connect = () => new pg.Client({ connectionString: stack.directDatabaseUrl })
    const list = [...migrations, byName(2)]
    const applied = await Promise.all(Array.from({ length: 3 }, () => migrate({ connect, migrations: list })))
    expect(applied.flat().sort()).toEqual([1, 2])
    expect(await appliedIds()).toEqual([1, 2])
    expect(await indexValid()).toBe(true)
  })

  it('a failed build leaves an INVALID index; the retry drops it and builds a valid one', async () => {
    const connect = () => new pg.Client({ connectionString: stack.directDatabaseUrl })
    await migrate({ connect, migrations })
    await db.query(`INSERT INTO notes (name) VALUES ('dup'), ('dup')`)
    const list = [...migrations, byName(2, true)]
    await expect(migrate({ connect, migrations: list })).rejects.toMatchObject({ code: '23505' })
    expect(await indexValid()).toBe(false)
    expect(await appliedIds()).toEqual([1])
    await db.query(`DELETE FROM notes WHERE id = (SELECT max(id) FROM notes)`)
    expect(await migrate({ connect, migrations: list })).toEqual([2])
    expect(await indexValid()).toBe(true)
  })
})
