// Schema migrations, run at startup. Several replicas start at once during a rollout,
// so each migration runs in a transaction holding a Postgres advisory lock: one
// replica applies it, the others wait on the lock and then find it applied.
// Statements are idempotent too, so a crash mid-way is safe to retry.
import type { Pool } from 'pg'

export interface Migration {
  id: number
  name: string
  sql: string
}

export const migrations: readonly Migration[] = [
  {
    id: 1,
    name: 'create items',
    sql: `CREATE TABLE IF NOT EXISTS items (
      id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
      name text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
      created_at timestamptz NOT NULL DEFAULT now()
    )`,
  },
]

// An arbitrary constant naming "this service's migrations" in pg_locks.
const LOCK_KEY = 7_240_001

export async function migrate(pool: Pool, list: readonly Migration[] = migrations): Promise<number[]> {
  const client = await pool.connect()
  // A checked-out client has no pool listener: without this, a Postgres restart during
  // the migration would be an uncaught 'error' and crash the process.
  const onError = () => undefined
  client.on('error', onError)
  const applied: number[] = []
  let failure: Error | undefined
  try {
    await client.query('BEGIN')
    // Waiting for another replica's migration, or a long migration, is not a slow query.
    await client.query('SET LOCAL statement_timeout = 0')
    // Transaction-scoped: released on COMMIT/ROLLBACK, or by Postgres if we die.
    await client.query('SELECT pg_advisory_xact_lock($1)', [LOCK_KEY])
    await client.query(`CREATE TABLE IF NOT EXISTS schema_migrations (
      id integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())`)
    const { rows } = await client.query<{ id: number }>('SELECT id FROM schema_migrations')
    const done = new Set(rows.map((r) => r.id))
    for (const m of list) {
      if (done.has(m.id)) continue
      await client.query(m.sql)
      await client.query('INSERT INTO schema_migrations (id, name) VALUES ($1, $2)', [m.id, m.name])
      applied.push(m.id)
    }
    await client.query('COMMIT')
    return applied
  } catch (err) {
    failure = err instanceof Error ? err : new Error(String(err))
    await client.query('ROLLBACK').catch(() => undefined)
    throw err
  } finally {
    client.off('error', onError)
    // After a failure, discard the connection: it may still wait on the lock or be broken.
    client.release(failure)
  }
}
