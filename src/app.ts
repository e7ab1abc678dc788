// Builds the application without listening, so tests can drive it with inject()
// and server.ts can boot it. Configuration comes in; nothing here reads process.env.
import underPressure from '@fastify/under-pressure'
import { STATUS_CODES } from 'node:http'
import Fastify, { type FastifyError, type FastifyInstance, type FastifyPluginAsync, type onRequestHookHandler } from 'fastify'
import { postgresCheck } from './checks/postgres.js'
import { redisCheck } from './checks/redis.js'
import type { Config } from './config.js'
import { Lifecycle } from './lifecycle.js'
import { logDestination, loggerOptions, requestId, requestLogger } from './logger.js'
import metrics from './metrics.js'
import apiContract from './plugins/api-contract.js'
import postgres from './plugins/postgres.js'
import redis from './plugins/redis.js'
import { sustainedFor, sustainedPressure } from './pressure.js'
import { dependencyDown, describeError } from './errors.js'
import { createReadiness, type Check, type Readiness } from './readiness.js'
// example:begin
import { eventRoutes } from './routes/events.js'
import { itemRoutes } from './routes/items.js'
// example:end
import { probeRoutes } from './routes/probes.js'
import { prepareShutdown } from './shutdown.js'

declare module 'fastify' {
  interface FastifyInstance {
    lifecycle: Lifecycle
    readiness: Readiness
  }
}

// Seconds a client should wait before retrying a request that arrived during startup.
const STARTING_RETRY_AFTER_S = 2


// under-pressure's sampling period; /ready needs several such samples in a row (pressure.ts).
export const PRESSURE_SAMPLE_MS = 1000

/**
 * Requests that a new pod runs on itself before it reports ready (startup.ts), so the first
 * requests from the Service do not pay for cold code paths. Read-only ones: your hot paths.
 */
export const warmUpRequests: readonly string[] = [
  // example:begin
  '/api/items',
  '/api/items/1',
  // example:end
]

export interface BuildOptions {
  /** Replaces the Postgres and Redis readiness checks (unit tests of probe logic). */
  checks?: Check[]
  /**
   * More route plugins, registered after the service's own and treated like them (startup
   * gating, metrics, error handler, drain). The tests' fixture routes come in here
   * (test/fixtures/routes.ts), so the infrastructure tests need no example route.
   */
  routes?: readonly FastifyPluginAsync[]
}

/**
 * Memory over MAX_RSS_BYTES or MAX_HEAP_USED_BYTES at every sample for
 * MEMORY_PRESSURE_EXIT_MS: calls `onSustained` once (server.ts drains and exits 1).
 */
export function watchMemory(app: FastifyInstance, config: Config, onSustained: (details: { ms: number; rssBytes: number; heapUsed: number }) => void) {
  const { maxRssBytes, maxHeapUsedBytes, memoryPressureExitMs } = config
  if (memoryPressureExitMs === 0 || (maxRssBytes === 0 && maxHeapUsedBytes === 0)) return
  const over = () => {
    const { rssBytes, heapUsed } = app.memoryUsage()
    return (maxRssBytes > 0 && rssBytes > maxRssBytes) || (maxHeapUsedBytes > 0 && heapUsed > maxHeapUsedBytes)
  }
  const watch = sustainedFor(over, {
    forMs: memoryPressureExitMs,
    intervalMs: PRESSURE_SAMPLE_MS,
    onSustained: (ms) => onSustained({ ms, ...app.memoryUsage() }),
  })
  app.addHook('onClose', async () => watch.stop())
}

export async function buildApp(config: Config, options: BuildOptions = {}): Promise<FastifyInstance> {
  const app = Fastify({
    logger: { ...loggerOptions(config.logLevel), stream: logDestination() },
    genReqId: requestId,
    childLoggerFactory: requestLogger,
    // Longer than the idle timeout of the load balancer in front, or it may send a
    // request on a connection we are closing (a 502 at the edge).
    keepAliveTimeout: config.keepAliveTimeoutMs,
    // On close, idle keep-alive connections are closed at once; busy ones finish
    // their request and get `Connection: close` (see shutdown.ts, connections.ts).
    forceCloseConnections: 'idle',
    // Requests that still arrive on open connections while closing are served, not
    // refused: the client sent them before it could know, and another pod may not
    // be ready to take them yet.
    return503OnClosing: false,
    // Slow clients (a body trickling in, slowloris): a request must have fully arrived
    // within REQUEST_TIMEOUT_MS (408), its headers within HEADERS_TIMEOUT_MS; Node checks
    // every second instead of its default 30 s, so such sockets cannot pile up meanwhile.
    // Responses are not bounded by these (a slow handler or a stream is the app's business).
    requestTimeout: config.requestTimeoutMs,
    http: { headersTimeout: config.headersTimeoutMs, connectionsCheckingInterval: 1000 },
    // 413 above it (BODY_LIMIT_BYTES, docs/api.md).
    bodyLimit: config.bodyLimitBytes,
  })

  const lifecycle = new Lifecycle(app.log)
  app.decorate('lifecycle', lifecycle)

  // Every answer carries the request id (the caller's, or ours), errors and shed requests
  // included: set on arrival, in a callback hook (an async onSend hook cost a promise and
  // a hook runner per response).
  app.addHook('onRequest', (req, reply, done) => {
    reply.header('x-request-id', req.id)
    done()
  })
  // Until initialisation completes (migrations), business routes answer 503 + Retry-After:
  // a request can reach a pod that is not ready (its own address, a port-forward, a
  // sidecar, publishNotReadyAddresses), and must not meet a missing table as a 500.
  // Probes answer for themselves, and an unknown route is a 404 whenever. Decided per
  // route when it is declared: req.routeOptions builds an object on every read.
  const gate: onRequestHookHandler = (_req, reply, done) => {
    if (lifecycle.serving) return done()
    reply.code(503).header('retry-after', STARTING_RETRY_AFTER_S)
    reply.send({ statusCode: 503, error: 'Service Unavailable', message: 'starting, retry later' })
  }
  app.addHook('onRoute', (route) => {
    if (route.config?.probe) return
    route.onRequest = [gate, ...[route.onRequest ?? []].flat()]
  })
  prepareShutdown(app)

  // 5xx bodies never carry internals (error messages may name hosts or queries);
  // 4xx keep fastify's clear validation messages. A dependency that cannot be reached
  // is a 503 with Retry-After: the request may succeed on retry, on this pod or another.
  app.setErrorHandler((err: FastifyError, req, reply) => {
    const status = err.statusCode && err.statusCode >= 400 ? err.statusCode : dependencyDown(err) ? 503 : 500
    if (status < 500) {
      return reply.code(status).send({ statusCode: status, error: STATUS_CODES[status] ?? 'Error', code: err.code, message: err.message })
    }
    // Load shedding (under-pressure) answers 503 by design: logging each shed request
    // at error, with a stack, would add work exactly when the process is overloaded.
    if (err.statusCode === 503) req.log.debug({ reason: err.message }, 'request shed')
    else req.log.error({ err }, 'request failed')
    if (status === 503) reply.header('retry-after', reply.getHeader('retry-after') ?? 5)
    return reply.code(status).send({
      statusCode: status,
      error: STATUS_CODES[status] ?? 'Error',
      message: status === 503 ? (err.statusCode === 503 ? err.message : 'dependency unavailable') : 'internal error',
    })
  })

  await app.register(underPressure, {
    sampleInterval: PRESSURE_SAMPLE_MS,
    maxEventLoopDelay: config.maxEventLoopDelayMs,
    maxEventLoopUtilization: config.maxEventLoopUtilization,
    maxHeapUsedBytes: config.maxHeapUsedBytes,
    maxRssBytes: config.maxRssBytes,
    // Measure utilisation per sample, not since boot, so pressure clears when load does.
    eventLoopUtilizationMode: 'interval',
    message: 'Service under pressure, retry later',
    retryAfter: 5,
  })
  await app.register(postgres, {
    connectionString: config.databaseUrl,
    // One of PG_POOL_MAX connections is the readiness check's own (checks/postgres.ts).
    max: config.pgPoolMax - 1,
    min: config.pgPoolMin,
    queryTimeoutMs: config.pgQueryTimeoutMs,
    connectTimeoutMs: Math.max(config.readyCheckTimeoutMs, 5000),
    applicationName: config.serviceName,
  })
  await app.register(redis, { url: config.redisUrl, commandTimeoutMs: config.redisCommandTimeoutMs, connectionName: config.serviceName })

  // The probe bodies carry short causes only; the logs get the full error, once per
  // change of a check's state (not once per probe).
  const failing = new Set<string>()
  const readiness = createReadiness({
    checks: options.checks ?? [postgresCheck(() => app.pgDedicatedClient('readiness'), config.readyCheckTimeoutMs), redisCheck(app.redis)],
    timeoutMs: config.readyCheckTimeoutMs,
    cacheTtlMs: config.readyCacheTtlMs,
    onReport(report, errors) {
      for (const [name, result] of Object.entries(report.checks)) {
        if (result.status === 'fail' && !failing.has(name)) {
          failing.add(name)
          const effect = result.critical ? 'failing readiness' : 'degraded, still ready'
          app.log.warn({ check: name, critical: result.critical, cause: result.reason, error: describeError(errors[name]) }, `readiness check ${name} failed: ${effect}`)
        } else if (result.status === 'ok' && failing.delete(name)) {
          app.log.info({ check: name, critical: result.critical }, `readiness check ${name} recovered`)
        }
      }
    },
  })
  app.decorate('readiness', readiness)
  // Before the routes: it instruments the routes declared after it. METRICS_PORT=0: off, no cost.
  if (config.metricsPort !== 0) {
    await app.register(metrics, { lifecycle, readiness, pool: app.pg, redis: app.redis, shutdownTimeoutMs: config.shutdownTimeoutMs })
  }
  // Off by default (READY_PRESSURE_SAMPLES=0): the pod's own load is answered by shedding
  // and the HPA, not by leaving the Service, which on every replica at once is an outage.
  const pressure = config.readyPressureSamples > 0 ? sustainedPressure(() => app.isUnderPressure(), { samples: config.readyPressureSamples, intervalMs: PRESSURE_SAMPLE_MS }) : undefined
  if (pressure) app.addHook('onClose', async () => pressure.stop())
  // OpenAPI, 404/405, helmet, CORS, rate limit: before the routes it applies to.
  const { corsOrigins, rateLimitMax, rateLimitWindowMs } = config
  await app.register(apiContract, { corsOrigins, rateLimitMax, rateLimitWindowMs, redis: app.redis, warmingUp: () => !lifecycle.started })
  // fastPath: the probes skip Fastify's request cycle, which costs them more than their own work.
  await app.register(probeRoutes, { lifecycle, readiness, underPressure: pressure?.get ?? (() => false), fastPath: { requestId } })
  // example:begin
  await app.register(itemRoutes, { prefix: '/api', cacheTtlSeconds: config.cacheTtlSeconds })
  await app.register(eventRoutes, { prefix: '/api', lifecycle })
  // example:end
  for (const routes of options.routes ?? []) await app.register(routes)
  return app
}

