// The example API's writes under Schemathesis (test/helpers/schemathesis.ts): run on its
// item operations only, the database must hold exactly the items the API answered 201 for
// (read from Schemathesis' HAR report). schemathesis.test.ts fuzzes the whole API.
import pg from 'pg'
import { expect, it } from 'vitest'
import { expectAlive } from '../helpers/integration-probes.js'
import { harOf, RUN_TIMEOUT_MS, runAgainst } from '../helpers/schemathesis.js'
import { serverForFile } from '../helpers/suite.js'

const file = serverForFile()

it(
  'the items Schemathesis created are exactly the rows of the items table',
  async () => {
    const run = await runAgainst(file.server.url, ['--include-path-regex', '^/api/items'])
    expect(run.exitCode, `schemathesis failed; its output:\n${run.output}`).toBe(0)
    expectAlive(file.server)

    // Every item row is one the API answered 201 for, and every 201 left its row.
    const har = harOf(run)
    expect(har, `no HAR report; report dir: ${[...run.report.keys()].join(', ')} ${run.report.get('error') ?? ''}`).toBeDefined()
    const created = har!.log.entries
      .filter((e) => e.request.method === 'POST' && new URL(e.request.url).pathname === '/api/items' && e.response.status === 201)
      .map((e) => (JSON.parse(e.response.content.text ?? '{}') as { id: string }).id)
    // Not vacuous: the run created items (examples, fuzzing and the stateful phase all POST).
    expect(created.length).toBeGreaterThan(0)
    const client = new pg.Client({ connectionString: file.stack.directDatabaseUrl })
    await client.connect()
    try {
      const { rows } = await client.query<{ id: string }>('SELECT id::text FROM items ORDER BY id')
      expect(rows.map((r) => r.id).sort()).toEqual([...created].sort())
    } finally {
      await client.end()
    }
  },
  RUN_TIMEOUT_MS + 120_000,
)
