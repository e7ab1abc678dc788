// Initialisation, after the server listens: migrate Postgres, and connect to the Redis
// cache without waiting for it. Each step is retried while its failure is transient, and
// ends the process when it is permanent (retry.ts).
import { setTimeout as sleep } from 'node:timers/promises'
import type { FastifyInstance } from 'fastify'
import type { Redis } from 'ioredis'
import { migrate, type Migration } from './migrate.js'
import { describeError } from './errors.js'
import { PermanentStartupError, retry } from './retry.js'
import { tracing } from './tracing-state.js'

export { EXIT_STARTUP_FAILED, PermanentStartupError } from './retry.js'

export interface InitialiseOptions {
  /** Default: migrate.ts's list. */
  migrations?: readonly Migration[]
  lockTimeoutMs?: number
  /** Pooled Postgres connections to open before ready (PG_POOL_MIN). */
  poolMin?: number
  /** GET paths run with inject() before ready, each WARM_UP_ROUNDS times (app.ts's warmUpRequests). */
  warmUp?: readonly string[]
}

/** Times each warm-up path runs. */
export const WARM_UP_ROUNDS = 20

export async function initialise(app: FastifyInstance, signal: AbortSignal, options: InitialiseOptions = {}): Promise<void> {
  // Startup gates on what the service cannot serve without: Postgres and its migrations.
  // The cache connects in the background: during a Redis outage a new pod (a rollout's
  // surge, an HPA scale-up, a replacement for a drained node, a restart) still becomes
  // ready and serves from Postgres, instead of stalling until its startup probe kills it.
  const cache = retry(app, 'redis', () => connectRedis(app.redis), signal)
  cache.catch(() => undefined)
  await retry(app, 'postgres', () => migrate({ ...options, connect: () => app.pgDedicatedClient('migrate'), signal }), signal)
  // A Redis that answers but refuses our credentials is a deployment mistake, not an
  // outage: fail this rollout now (its old pods keep serving) rather than run without a
  // cache unnoticed. Its answer is usually in by now; an unreachable one is not waited for.
  const early = await Promise.race([cache.then(() => undefined, (err: unknown) => err), sleep(REDIS_GRACE_MS, undefined, { ref: false })])
  if (early instanceof PermanentStartupError) throw early
  app.lifecycle.serving = true
  await warmUp(app, options)
}

// A pod that joins the endpoints cold answers its first requests slowly: each opens a
// Postgres connection (TCP, TLS, authentication) and runs code not yet optimised. During a
// rollout, new pods take a share of the traffic at once, so that cost showed as the worst
// second's p99 of the whole rollout. Pay it before reporting ready instead. Best effort:
// a failure here is logged and left to readiness (Postgres critical, the cache not).
async function warmUp(app: FastifyInstance, { poolMin = 0, warmUp: paths = [] }: InitialiseOptions): Promise<void> {
  const start = performance.now()
  try {
    const clients = await Promise.all(Array.from({ length: poolMin }, () => app.pg.connect()))
    for (const client of clients) client.release()
    await app.readiness.check()
    // Without their per-request log lines (request loggers follow the app logger's level).
    const level = app.log.level
    if (['trace', 'debug', 'info'].includes(level)) app.log.level = 'warn'
    // Nor traced: they are not traffic, and would be a trace per request at every pod start.
    const untraced = tracing()?.untraced ?? (<T>(fn: () => T) => fn())
    try {
      for (let round = 0; round < WARM_UP_ROUNDS; round++) {
        await untraced(() => Promise.all(paths.map((url) => app.inject({ method: 'GET', url, headers: { 'x-request-id': 'warm-up' } }))))
      }
    } finally {
      app.log.level = level
    }
    app.log.info({ step: 'warm-up', ms: Math.round(performance.now() - start), poolConnections: app.pg.totalCount, requests: paths.length * WARM_UP_ROUNDS }, 'startup: warm-up ok')
  } catch (err) {
    app.log.warn({ step: 'warm-up', reason: describeError(err) }, 'startup: warm-up failed, continuing')
  }
}

// How long, after Postgres is ready, startup waits for Redis' first answer (refused,
// accepted or rejected credentials come within milliseconds; an unreachable host is
// left to the background).
const REDIS_GRACE_MS = 500

// ioredis rejects a failed connect with a generic "Connection is closed." and reports the
// cause (WRONGPASS, ECONNREFUSED) as an 'error' event: reject with the cause instead.
async function connectRedis(redis: Redis): Promise<unknown> {
  let cause: unknown
  const onError = (err: unknown) => (cause ??= err)
  redis.on('error', onError)
  try {
    return await (redis.status === 'wait' || redis.status === 'end' ? redis.connect() : redis.ping())
  } catch (err) {
    throw cause ?? err
  } finally {
    redis.off('error', onError)
  }
}
