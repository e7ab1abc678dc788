// The app built for contract tests (test/unit/openapi.test.ts, test/unit/example-openapi.test.ts):
// no dependency connected, initialisation marked done, the fixture routes added (hidden
// from the spec); and the parts of the OpenAPI document they read.
import type { FastifyInstance } from 'fastify'
import { afterEach } from 'vitest'
import { buildApp } from '../../src/app.js'
import { loadConfig } from '../../src/config.js'
import { SPEC_ENV } from '../../scripts/openapi.js'
import fixtureRoutes from '../fixtures/routes.js'

export interface Operation {
  responses: Record<string, { headers?: Record<string, unknown>; content?: Record<string, unknown> }>
  parameters?: unknown[]
  requestBody?: unknown
}
export interface Spec {
  openapi: string
  paths: Record<string, Record<string, Operation>>
  components: { responses: Record<string, { headers?: Record<string, unknown> }> }
}

export const operations = (spec: Spec) => Object.entries(spec.paths).flatMap(([path, methods]) => Object.entries(methods).map(([method, op]) => ({ path, method, op })))

/** Registers the file's afterEach; returns build(env), whose apps it closes. */
export function contractApps() {
  const apps: FastifyInstance[] = []
  afterEach(async () => {
    await Promise.all(apps.splice(0).map((a) => a.close()))
  })
  const build = async (env: Record<string, string> = {}) => {
    // Event-loop delay shedding off: a starved test worker's samples would shed these requests.
    const app = await buildApp(loadConfig({ ...SPEC_ENV, MAX_EVENT_LOOP_DELAY_MS: '0', ...env }), { checks: [], routes: [fixtureRoutes] })
    apps.push(app)
    await app.ready()
    // Initialisation done (no dependency to connect to here): business routes answer.
    app.lifecycle.enter('ready')
    return app
  }
  return { apps, build }
}
