// Several replicas start at once during a rollout: their migrations must not collide.
import pg from 'pg'
import { afterAll, beforeAll, expect, it } from 'vitest'
import { migrate, migrations } from '../../src/migrate.js'
import { startStack, type Stack } from '../helpers/stack.js'

let stack: Stack
beforeAll(async () => {
  stack = await startStack()
})
afterAll(async () => {
  await stack?.stop()
})

it('concurrent replicas apply each migration exactly once', async () => {
  const replicas = Array.from({ length: 6 }, () => new pg.Pool({ connectionString: stack.directDatabaseUrl, max: 1 }))
  try {
    const applied = await Promise.all(replicas.map((pool) => migrate(pool)))
    const ids = migrations.map((m) => m.id)
    // One replica applied everything; the others waited on the lock and found it done.
    expect(applied.filter((a) => a.length > 0)).toEqual([ids])
    expect(applied.filter((a) => a.length === 0)).toHaveLength(replicas.length - 1)
    const { rows } = await replicas[0]!.query<{ id: number }>('SELECT id FROM schema_migrations ORDER BY id')
    expect(rows.map((r) => r.id)).toEqual(ids)
    // And again on the next rollout: nothing to do.
    expect(await migrate(replicas[0]!)).toEqual([])
  } finally {
    await Promise.all(replicas.map((pool) => pool.end()))
  }
})
