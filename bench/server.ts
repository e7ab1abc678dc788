// The benchmark's server: the built app (dist/), booted like src/server.ts (config,
// build, listen, initialise, ready) minus signal draining, plus two bench-only routes:
//   GET /bare           a bare Fastify route in the same process, the baseline the
//                       probes are compared with;
//   GET /bench/stats    how many `SELECT 1` readiness queries reached the pool, and
//                       the process's CPU time so far (for CPU per request).
// bench/probes.ts forks it, so the load generator never shares this event loop.
// Talks to its parent over IPC: { type: 'ready', port } once /ready can answer 200.
import type { AddressInfo } from 'node:net'

// Runtime code comes from dist/ (what `npm start` runs); types from the sources it was
// built from. A computed specifier, so tsc does not look for declarations in dist/.
const dist = (file: string) => new URL(`../dist/${file}`, import.meta.url).href
const { buildApp } = (await import(dist('app.js'))) as typeof import('../src/app.js')
const { loadConfig } = (await import(dist('config.js'))) as typeof import('../src/config.js')
const { initialise } = (await import(dist('startup.js'))) as typeof import('../src/startup.js')

const config = loadConfig(process.env)
const app = await buildApp(config)

// Count readiness queries at the pool the check captured at build time: it calls
// `pool.query(...)` on this same object, so an own property shadows the prototype method.
const pool = app.pg
const query = pool.query.bind(pool) as (...args: unknown[]) => unknown
const queries = { selectOne: 0, total: 0 }
pool.query = ((...args: unknown[]) => {
  const [q] = args
  const text = typeof q === 'string' ? q : (q as { text?: unknown } | undefined)?.text
  queries.total++
  if (typeof text === 'string' && text.trim() === 'SELECT 1') queries.selectOne++
  return query(...args)
}) as typeof pool.query

// Default route options: no logLevel override (LOG_LEVEL=warn in the bench keeps its
// per-request info lines out, as the probes' own logLevel: 'warn' does for them).
app.get('/bare', async () => ({ status: 'ok' }))
app.get('/bench/stats', async () => {
  const cpu = process.cpuUsage()
  return { ...queries, cpuMicros: cpu.user + cpu.system }
})

const startup = new AbortController()
let stopping = false
async function stop(code: number) {
  if (stopping) return
  stopping = true
  startup.abort()
  try {
    await app.close()
  } finally {
    process.exit(code)
  }
}
process.once('SIGTERM', () => void stop(0))
process.once('SIGINT', () => void stop(0))
// The parent died or let go of us: never outlive it.
process.once('disconnect', () => void stop(0))

await app.listen({ port: config.port, host: config.host })
await initialise(app, startup.signal)
app.lifecycle.enter('ready')
process.send?.({ type: 'ready', port: (app.server.address() as AddressInfo).port })
