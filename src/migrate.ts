// Schema migrations, run at startup (startup.ts). During a rollout several replicas start
// at once, next to old pods that keep serving (docs/migrations.md). So:
//  - each pending migration runs in its own transaction, holding a Postgres advisory
//    lock: one replica applies it, the others wait for the lock, re-check, and find it
//    applied; a failing migration rolls back alone, the ones before it stay applied;
//  - on its own connection, not one from the app's pool: no client-side query timeout
//    and no statement_timeout, since an index build, or the wait for another replica's
//    migration, may take minutes, and a client that stops waiting leaves its backend
//    behind on the server, still waiting;
//  - with a lock_timeout on the migration's statements: an ALTER TABLE queued behind a
//    long transaction (an old pod's) would queue every application query on that table
//    behind itself. It fails fast instead (55P03), and startup.ts retries with backoff;
//  - a migration that gives up (shutdown signal during startup) closes its connection at
//    once, and the server ends the backend within a second, even mid-statement: nothing
//    stays behind holding a lock, or waiting for one to run a migration for a process
//    that is gone.
import { setTimeout as sleep } from 'node:timers/promises'
import type pg from 'pg'

export interface Migration {
  id: number
  name: string
  /** One statement, or several run in order. */
  sql: string | readonly string[]
  /**
   * false for statements Postgres refuses in a transaction block (CREATE/DROP INDEX
   * CONCURRENTLY, REINDEX CONCURRENTLY): each commits on its own, without lock_timeout
   * (they take locks that block neither reads nor writes, and wait out older
   * transactions by design; a timeout would only leave an INVALID index). A failure can
   * leave the migration half done, so it must be safe to run again: see docs/migrations.md.
   */
  transaction?: boolean
}

export const migrations: readonly Migration[] = [
  // example:begin
  {
    id: 1,
    name: 'create items',
    sql: `CREATE TABLE IF NOT EXISTS items (
      id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
      name text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
      created_at timestamptz NOT NULL DEFAULT now()
    )`,
  },
  // example:end
]

/**
 * How long a migration's statement may wait for a table lock. Application queries on
 * that table queue behind the waiting statement meanwhile, so keep it well below
 * PG_QUERY_TIMEOUT_MS: they are delayed by at most this, never failed.
 */
export const LOCK_TIMEOUT_MS = 2000

/**
 * Whose migrations these are: services made from this template may share a database, and
 * each must keep its own bookkeeping table and lock, or one would take the other's
 * migration 1 for its own. A constant, not SERVICE_NAME: renaming a deployment must not
 * make a service forget what it applied (`npm run init` rewrites it; docs/migrations.md).
 */
export const MIGRATIONS_OWNER = 'service_template'

/** The bookkeeping table of `owner`'s migrations. */
export const migrationTable = (owner: string): string => `${owner}_migrations`

/**
 * The advisory lock key of `owner`'s migrations (pg_locks), derived from its name: 32-bit
 * FNV-1a, as a signed integer (pg_advisory_lock takes a bigint).
 */
export function migrationLockKey(owner: string): number {
  let hash = 0x811c9dc5
  for (const byte of new TextEncoder().encode(owner)) hash = Math.imul(hash ^ byte, 0x01000193)
  return hash | 0
}

export const MIGRATION_LOCK_KEY = migrationLockKey(MIGRATIONS_OWNER)
const LOCK_POLL_MS = 200

export interface MigrateOptions {
  /** A new, unconnected client for the migration's own connection (`app.pgDedicatedClient`). */
  connect: () => pg.Client
  migrations?: readonly Migration[]
  /** Names the bookkeeping table and the lock (default MIGRATIONS_OWNER): letters, digits, '_'. */
  owner?: string
  lockTimeoutMs?: number
  /** Aborted: give up at once, closing the connection (the server then ends its backend). */
  signal?: AbortSignal
}

/** Applies the pending migrations in order; returns the ids this call applied. */
export async function migrate({ connect, migrations: list = migrations, owner = MIGRATIONS_OWNER, lockTimeoutMs = LOCK_TIMEOUT_MS, signal }: MigrateOptions): Promise<number[]> {
  signal?.throwIfAborted()
  // Interpolated into SQL as an identifier: only what needs no quoting.
  if (!/^[a-z_][a-z0-9_]*$/.test(owner) || migrationTable(owner).length > 63) throw new Error(`migrations owner "${owner}": expected lower-case letters, digits and '_', at most 52 characters`)
  const book = { table: migrationTable(owner), key: migrationLockKey(owner) }
  const client = connect()
  // A connection lost mid-migration also fails the pending query; without a listener,
  // the 'error' event would crash the process.
  client.on('error', () => undefined)
  // Giving up does not wait for the statement in flight: end() destroys the socket.
  const giveUp = () => void client.end().catch(() => undefined)
  signal?.addEventListener('abort', giveUp, { once: true })
  try {
    await client.connect()
    // For the session, overriding role and database defaults: nothing here is an
    // application query; lock_timeout is set per transaction, below.
    // client_connection_check_interval (Postgres 14+): a backend reads from its client
    // only between statements, so one busy in a statement (an index build, a wait for a
    // table lock) would carry on after we give up, or die (SIGKILL once the startup
    // budget is spent). With it, the server notices the closed connection within a
    // second, and ends the backend: its transaction rolls back, its locks are released.
    await client
      .query(`SELECT set_config('statement_timeout', '0', false), set_config('lock_timeout', '0', false),
      set_config('client_connection_check_interval', '1000', false)`)
      .catch((err: unknown) => {
        // 42704 undefined_object: a server older than 14 has no such setting.
        if (err instanceof Error && (err as { code?: unknown }).code === '42704') err.message = `Postgres 14 or later is required: ${err.message}`
        throw err
      })
    const done = await appliedIds(client, book.table)
    const applied: number[] = []
    for (const m of list) {
      if (done.has(m.id)) continue
      await lock(client, book.key, signal)
      try {
        if (await appliedMeanwhile(client, book.table, m)) continue
        if (m.transaction === false) await runStatements(client, book.table, m)
        else await inTransaction(client, lockTimeoutMs, () => runStatements(client, book.table, m))
        applied.push(m.id)
      } catch (err) {
        if (err instanceof Error) err.message = `migration ${m.id} (${m.name}): ${err.message}`
        throw err
      } finally {
        // Also released by the server when the connection ends (after a failure, below).
        await client.query('SELECT pg_advisory_unlock($1)', [book.key]).catch(() => undefined)
      }
    }
    return applied
  } catch (err) {
    signal?.throwIfAborted()
    throw err
  } finally {
    signal?.removeEventListener('abort', giveUp)
    await client.end().catch(() => undefined)
  }
}

// Without the lock: a replica with nothing pending (an old pod restarting mid-rollout)
// must not wait while a newer replica runs a long migration.
async function appliedIds(client: pg.Client, table: string): Promise<Set<number>> {
  const { rows } = await client.query<{ exists: boolean }>('SELECT to_regclass($1) IS NOT NULL AS exists', [table])
  if (!rows[0]?.exists) return new Set()
  const applied = await client.query<{ id: number }>(`SELECT id FROM ${table}`)
  return new Set(applied.rows.map((r) => r.id))
}

// Session-level, and polled rather than waited for in one statement: a statement
// waiting on the lock holds a snapshot, which another replica's CREATE INDEX
// CONCURRENTLY must wait out while it holds the lock: a deadlock (flyway#1654). Between
// tries this connection holds nothing, and giving up is immediate.
async function lock(client: pg.Client, key: number, signal: AbortSignal | undefined): Promise<void> {
  for (;;) {
    const { rows } = await client.query<{ locked: boolean }>('SELECT pg_try_advisory_lock($1) AS locked', [key])
    if (rows[0]?.locked) return
    await sleep(LOCK_POLL_MS, undefined, { signal })
  }
}

/** Under the lock: creates the bookkeeping table if needed; true when another replica applied `m` meanwhile. */
async function appliedMeanwhile(client: pg.Client, table: string, m: Migration): Promise<boolean> {
  await client.query(`CREATE TABLE IF NOT EXISTS ${table} (
    id integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())`)
  return (await client.query(`SELECT 1 FROM ${table} WHERE id = $1`, [m.id])).rowCount === 1
}

/** The statements, then the bookkeeping row: in one transaction unless `transaction: false`. */
async function runStatements(client: pg.Client, table: string, m: Migration): Promise<void> {
  for (const statement of typeof m.sql === 'string' ? [m.sql] : m.sql) await client.query(statement)
  await client.query(`INSERT INTO ${table} (id, name) VALUES ($1, $2)`, [m.id, m.name])
}

async function inTransaction(client: pg.Client, lockTimeoutMs: number, work: () => Promise<void>): Promise<void> {
  await client.query('BEGIN')
  try {
    await client.query(`SELECT set_config('lock_timeout', $1, true)`, [`${lockTimeoutMs}ms`])
    await work()
    await client.query('COMMIT')
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined)
    throw err
  }
}
