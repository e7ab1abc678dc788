// Initialisation, after the server listens: connect to Postgres and Redis and migrate.
// Until it completes /startup answers 503 and the kubelet holds off liveness and
// readiness probes (startupProbe). A dependency that is not up yet is retried with
// backoff rather than crashing the process: a crash loop would only add restart
// delays, while the startup probe's budget already bounds how long we may take.
import { setTimeout as sleep } from 'node:timers/promises'
import type { FastifyInstance } from 'fastify'
import { migrate } from './migrate.js'
import { reconnectDelay } from './plugins/redis.js'
import { describeError } from './readiness.js'

export async function initialise(app: FastifyInstance, signal: AbortSignal): Promise<void> {
  const steps: Array<[string, () => Promise<unknown>]> = [
    ['redis', () => (app.redis.status === 'wait' || app.redis.status === 'end' ? app.redis.connect() : app.redis.ping())],
    ['postgres', () => migrate(app.pg)],
  ]
  for (const [name, step] of steps) {
    for (let attempt = 0; ; attempt++) {
      signal.throwIfAborted()
      const start = performance.now()
      try {
        const result = await step()
        app.log.info({ step: name, ms: Math.round(performance.now() - start), result: Array.isArray(result) ? { migrationsApplied: result } : undefined }, `startup: ${name} ok`)
        break
      } catch (err) {
        const delay = reconnectDelay(attempt)
        app.log.warn({ step: name, attempt: attempt + 1, retryInMs: delay, reason: describeError(err) }, `startup: ${name} not ready, retrying`)
        await sleep(delay, undefined, { signal })
      }
    }
  }
}
