// The servers `npm run bench` measures, one per process: `node bench/targets.ts <name>`.
// Each listens on 127.0.0.1 (an ephemeral port), tells its parent the port over IPC,
// and answers { type: 'stats' } with its own user + system CPU time, so the parent can
// divide a run's CPU time by the requests the run completed (and, for the template,
// the readiness `SELECT 1` queries sent to Postgres, counted at pg.Client's query). IPC instead of an HTTP stats
// route: nothing is added to the app under measurement.
//
//   fastify-logger    bare Fastify 5 with a pino logger, its route at `warn` (the verdict's baseline)
//   fastify-bare      bare Fastify 5 without a logger
//   lightship         lightship's own health server (its /health, /live, /ready)
//   terminus          @godaddy/terminus answering /health in front of a Fastify app
//   close-with-grace  Fastify with a logger and close-with-grace: probes are your own routes
//   template          this template: dist/ built and booted as src/server.ts does, metrics
//                     on, plus GET /hello, a trivial business route under every app-wide
//                     hook and plugin
//   template-route    the same in a process of its own, for GET /hello alone; the tracing
//                     cases run it with the tracing preload (--import dist/tracing.js, as the
//                     image does) and the OTEL_* variables of their sampled share (run.ts)
// Peers get the minimal app each one's README shows; none of them is part of the template.
import type { AddressInfo } from 'node:net'

export const TARGETS = ['fastify-logger', 'fastify-bare', 'lightship', 'terminus', 'close-with-grace', 'template', 'template-route'] as const
export type Target = (typeof TARGETS)[number]

const HOST = '127.0.0.1'
const ROUTE = { logLevel: 'warn' } as const
const OK = { status: 'ok' }

interface Started {
  port: number
  /** The metrics listener's port (template only). */
  metricsPort?: number
  /** Readiness `SELECT 1` queries sent to Postgres (template only). */
  selectOne?: () => number
  close: () => Promise<unknown>
}

async function fastifyApp(logger: boolean) {
  const { default: Fastify } = await import('fastify')
  // pino to stdout (the parent discards it), at info: per-request lines are off only
  // because the route says `warn`, as the template's probes do.
  return Fastify({ logger })
}

const starters: Record<Target, () => Promise<Started>> = {
  async 'fastify-logger'() {
    const app = await fastifyApp(true)
    app.get('/health', ROUTE, async () => OK)
    await app.listen({ host: HOST, port: 0 })
    return { port: (app.server.address() as AddressInfo).port, close: () => app.close() }
  },

  async 'fastify-bare'() {
    const app = await fastifyApp(false)
    app.get('/health', async () => OK)
    await app.listen({ host: HOST, port: 0 })
    return { port: (app.server.address() as AddressInfo).port, close: () => app.close() }
  },

  async lightship() {
    const { createLightship } = await import('lightship')
    // Outside Kubernetes lightship listens on an ephemeral port (0.0.0.0; we call 127.0.0.1).
    const lightship = await createLightship({ detectKubernetes: true, signals: [] })
    lightship.signalReady()
    return { port: (lightship.server.address() as AddressInfo).port, close: () => lightship.shutdown() }
  },

  async terminus() {
    const { createTerminus } = await import('@godaddy/terminus')
    const app = await fastifyApp(true)
    createTerminus(app.server, { healthChecks: { '/health': async () => OK }, signals: [] })
    await app.listen({ host: HOST, port: 0 })
    return { port: (app.server.address() as AddressInfo).port, close: () => app.close() }
  },

  async 'close-with-grace'() {
    const { default: closeWithGrace } = await import('close-with-grace')
    const app = await fastifyApp(true)
    app.get('/health', ROUTE, async () => OK)
    closeWithGrace({ delay: 500 }, async () => app.close())
    await app.listen({ host: HOST, port: 0 })
    return { port: (app.server.address() as AddressInfo).port, close: () => app.close() }
  },

  async template() {
    // Runtime code from dist/ (what `npm start` runs), types from the sources.
    const dist = (file: string) => new URL(`../dist/${file}`, import.meta.url).href
    const { buildApp } = (await import(dist('app.js'))) as typeof import('../src/app.js')
    const { loadConfig } = (await import(dist('config.js'))) as typeof import('../src/config.js')
    const { initialise } = (await import(dist('startup.js'))) as typeof import('../src/startup.js')
    const { startMetricsServer } = (await import(dist('metrics.js'))) as typeof import('../src/metrics.js')
    const config = loadConfig(process.env)
    const app = await buildApp(config)
    // Count readiness queries where every one goes through: pg.Client's query. The check
    // runs on a dedicated client of its own (src/checks/postgres.ts), not the app's pool,
    // so a wrapper on the pool counted nothing; the pool's clients are pg.Clients too.
    const { default: pg } = await import('pg')
    const query = Reflect.get(pg.Client.prototype, 'query') as (...args: unknown[]) => unknown
    let selectOne = 0
    pg.Client.prototype.query = function (this: unknown, ...args: unknown[]) {
      const [q] = args
      const text = typeof q === 'string' ? q : (q as { text?: unknown } | undefined)?.text
      if (typeof text === 'string' && text.trim() === 'SELECT 1') selectOne++
      return query.apply(this, args)
    } as typeof pg.Client.prototype.query
    // As src/server.ts does: metrics on unless METRICS_PORT=0.
    const metrics = app.hasDecorator('metrics')
      ? await startMetricsServer({ port: config.metricsPort, host: config.host, registry: app.metrics, log: app.log })
      : undefined
    // A trivial business route: every app-wide hook and plugin applies to it.
    app.get('/hello', ROUTE, async () => OK)
    await app.listen({ host: config.host, port: config.port })
    await initialise(app, new AbortController().signal)
    app.lifecycle.enter('ready')
    return {
      port: (app.server.address() as AddressInfo).port,
      metricsPort: metrics?.port,
      selectOne: () => selectOne,
      close: async () => {
        await app.close()
        await metrics?.close()
      },
    }
  },

  'template-route': () => starters.template(),
}

const name = process.argv[2] as Target
if (!TARGETS.includes(name)) throw new Error(`unknown target ${String(name)}: expected one of ${TARGETS.join(', ')}`)
const started = await starters[name]()
let stopping = false
const stop = () => {
  if (stopping) return
  stopping = true
  void started.close().finally(() => process.exit(0))
}
process.on('SIGTERM', stop)
process.on('SIGINT', stop)
// The parent died or let go of us: never outlive it.
process.once('disconnect', stop)
process.on('message', (msg: { type?: string }) => {
  if (msg.type !== 'stats') return
  const { user, system } = process.cpuUsage()
  process.send?.({ type: 'stats', cpuMicros: user + system, systemMicros: system, selectOne: started.selectOne?.() })
})
process.send?.({ type: 'ready', port: started.port, metricsPort: started.metricsPort })
