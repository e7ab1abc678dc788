import type { Pool } from 'pg'
import type { Check } from '../readiness.js'

// Through the app's own pool: the probe must fail when the app's queries would
// (pool exhausted, credentials rotated, connections cut), not when a side channel does.
// query_timeout makes pg drop the connection of a hung query instead of pinning it.
export function postgresCheck(pool: Pool, timeoutMs: number): Check {
  return {
    name: 'postgres',
    run: () => pool.query({ text: 'SELECT 1', query_timeout: timeoutMs } as { text: string }),
  }
}
