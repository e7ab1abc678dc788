// Writes the service's OpenAPI document to docs/openapi.json, so contract changes show in
// review diffs: `npm run docs:openapi`. test/unit/openapi.test.ts fails when the file is
// stale. Run by Node's type stripping against the build (dist/), as `npm start` runs it.
import { writeFile } from 'node:fs/promises'
import type { FastifyInstance } from 'fastify'

export const SPEC_FILE = new URL('../docs/openapi.json', import.meta.url)

/** A configuration for building the app without connecting: the spec needs only its routes. */
export const SPEC_ENV = { DATABASE_URL: 'postgres://spec@127.0.0.1:1/spec', REDIS_URL: 'redis://127.0.0.1:1', LOG_LEVEL: 'silent', METRICS_PORT: '0' }

/** The document as the file holds it. */
export const renderSpec = (app: FastifyInstance): string => `${JSON.stringify(app.swagger(), null, 2)}\n`

if (import.meta.main) {
  const dist = (file: string) => new URL(`../dist/${file}`, import.meta.url).href
  const { buildApp } = (await import(dist('app.js'))) as typeof import('../src/app.js')
  const { loadConfig } = (await import(dist('config.js'))) as typeof import('../src/config.js')
  const app = await buildApp(loadConfig(SPEC_ENV))
  await app.ready()
  await writeFile(SPEC_FILE, renderSpec(app))
  await app.close()
  process.stdout.write(`wrote ${SPEC_FILE.pathname}\n`)
}
