// Schemathesis, a fuzzer no one here wrote, against the built server on real Postgres and
// Redis, from the spec the server itself serves at /openapi.json, with every check: no
// 5xx, every status code, header, content type and body as documented, schema-breaking
// input refused with 4xx and valid input accepted, 405 for methods the spec does not list,
// stateful sequences through the spec's links. Whatever operations the service has (the
// test fixture's routes are hidden from the spec). Afterwards the server must still be the
// same process and have logged no error. example-schemathesis.test.ts checks what the
// example API's writes leave in its table.
import { expect, it } from 'vitest'
import { expectAlive } from '../helpers/integration-probes.js'
import { harOf, RUN_TIMEOUT_MS, runAgainst } from '../helpers/schemathesis.js'
import { serverForFile } from '../helpers/suite.js'

const file = serverForFile()

it(
  'Schemathesis finds no failure in the whole API; every path of the spec was called; the process survives',
  async () => {
    const run = await runAgainst(file.server.url)
    expect(run.exitCode, `schemathesis failed; its output:\n${run.output}`).toBe(0)

    // No crash, no restart: the same process, no fatal line, no error logged (a 500 logs one).
    expectAlive(file.server)
    expect(file.server.logs.filter((l) => l.level === 'error')).toEqual([])

    // Not vacuous: every path the spec lists got requests.
    const har = harOf(run)
    expect(har, `no HAR report; report dir: ${[...run.report.keys()].join(', ')} ${run.report.get('error') ?? ''}`).toBeDefined()
    const spec = (await (await fetch(`${file.server.url}/openapi.json`)).json()) as { paths: Record<string, unknown> }
    const called = har!.log.entries.map((e) => new URL(e.request.url).pathname)
    const uncalled = Object.keys(spec.paths).filter((path) => {
      const pattern = new RegExp(`^${path.replace(/\{[^}]+\}/g, '[^/]+')}$`)
      return !called.some((p) => pattern.test(p))
    })
    expect(uncalled).toEqual([])
  },
  RUN_TIMEOUT_MS + 120_000,
)
