// What the migration tests observe from the server side, through the test's own pool.
import type pg from 'pg'

/** A fresh, empty schema: every migration is pending again. */
export async function emptyDatabase(db: pg.Pool): Promise<void> {
  await db.query('DROP SCHEMA public CASCADE; CREATE SCHEMA public')
}

/** Backends of the migration's connections (application_name set by app.pgDedicatedClient). */
export async function migrationBackends(db: pg.Pool) {
  const { rows } = await db.query<{ pid: number; state: string; wait_event_type: string | null; query: string }>(
    `SELECT pid, state, wait_event_type, query FROM pg_stat_activity WHERE application_name = 'service-template/migrate'`,
  )
  return rows
}

/** A migration is waiting for another replica's: polling for the advisory lock. */
export async function pollingForLock(db: pg.Pool): Promise<boolean> {
  return (await migrationBackends(db)).some((b) => b.query.includes('pg_try_advisory_lock'))
}
