// Boots the service: install signal handlers, validate config, build the app, listen,
// then initialise. Listening comes before initialisation on purpose: the kubelet can
// then see /startup answer 503 (and /health 200) while we connect, instead of
// connection-refused, which is indistinguishable from a dead process.
// `node dist/server.js` runs main(); the tests' fixture server (test/fixtures/server.ts)
// imports it and adds its routes and migrations.
import { createServer } from 'node:net'
import type { FastifyPluginAsync } from 'fastify'
import { loadConfigOrExit } from './config.js'
import { isEntryPoint } from './entry.js'
import type { Migration } from './migrate.js'

export interface ServerOptions {
  /** More route plugins (app.ts's BuildOptions.routes). */
  routes?: readonly FastifyPluginAsync[]
  /** Default: migrate.ts's list. */
  migrations?: readonly Migration[]
  /** Default: app.ts's warmUpRequests. */
  warmUp?: readonly string[]
}

// As PID 1 in a container, a signal without a handler is ignored, so a pod deleted while
// this process boots would sit out its whole grace period and be SIGKILLed. Until the app
// exists there is nothing to drain: exit 0 at once. handleSignals() replaces this.
const early = (signal: NodeJS.Signals) => {
  process.stdout.write(`${JSON.stringify({ level: 'info', time: new Date().toISOString(), signal, msg: 'shutdown: signal during boot, nothing to drain, exiting 0' })}\n`)
  process.exit(0)
}

export async function main(options: ServerOptions = {}): Promise<void> {
  // First, before anything slow (loading fastify, pg and ioredis takes a moment).
  process.on('SIGTERM', early)
  process.on('SIGINT', early)

  const config = loadConfigOrExit(process.env)

  // Loaded only now, with the early handlers in place.
  const [{ buildApp, watchMemory, warmUpRequests }, { createShutdown, handleSignals }, { initialise, PermanentStartupError }, { startMetricsServer }] = await Promise.all([
    import('./app.js'),
    import('./shutdown.js'),
    import('./startup.js'),
    import('./metrics.js'),
  ])

  // HOST `::` (the default) is dual-stack (on Linux it accepts IPv4 too), so the kubelet's
  // probes reach the pod on an IPv6-only or IPv6-first cluster as on an IPv4 one; a node
  // without IPv6 falls back to all IPv4 addresses rather than failing to start.
  if (config.host === '::' && !(await canListen(config.host))) config.host = '0.0.0.0'

  const app = await buildApp(config, { routes: options.routes })
  // The metrics listener comes up first, so a slow start can be watched, and the shutdown
  // closes it last (closeLast), so the drain can be scraped too.
  let metricsServer: Awaited<ReturnType<typeof startMetricsServer>> | undefined
  if (config.metricsPort !== 0) {
    try {
      metricsServer = await startMetricsServer({ port: config.metricsPort, host: config.host, registry: app.metrics, log: app.log })
    } catch (err) {
      app.log.fatal({ err, port: config.metricsPort }, 'cannot listen for metrics (METRICS_PORT)')
      process.exit(1)
    }
  }
  const startup = new AbortController()
  const shutdown = createShutdown({
    app,
    lifecycle: app.lifecycle,
    drainDelayMs: config.drainDelayMs,
    timeoutMs: config.shutdownTimeoutMs,
    startup,
    closeLast: async () => metricsServer?.close(),
  })
  handleSignals(shutdown)
  watchMemory(app, config, (details) => shutdown.onRestart('memory pressure sustained (MEMORY_PRESSURE_EXIT_MS)', details))
  process.off('SIGTERM', early)
  process.off('SIGINT', early)
  app.lifecycle.logStarting({ port: config.port, host: config.host, node: process.version })

  try {
    await app.listen({ port: config.port, host: config.host })
  } catch (err) {
    app.log.fatal({ err }, 'cannot listen')
    process.exit(1)
  }

  try {
    await initialise(app, startup.signal, { poolMin: config.pgPoolMin, warmUp: options.warmUp ?? warmUpRequests, migrations: options.migrations })
    app.lifecycle.enter('ready')
  } catch (err) {
    // Retrying cannot help (wrong password, missing database, broken migration), and
    // initialise logged why in one line: exit with its code, no stack trace.
    if (err instanceof PermanentStartupError) process.exit(err.exitCode)
    // Aborted by a shutdown signal during startup: the shutdown sequence takes over.
    if (!startup.signal.aborted) throw err
  }
}

/** Whether a listener can bind `host` (any free port, released at once). */
function canListen(host: string): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = createServer()
    probe.once('error', () => resolve(false))
    probe.listen(0, host, () => probe.close(() => resolve(true)))
  })
}

if (isEntryPoint(import.meta.url)) await main()
