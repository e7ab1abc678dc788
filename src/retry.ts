// A startup step (migrations, a first connection) retried until it succeeds, or given up
// at once when waiting cannot help. Until startup completes /startup answers 503 and the
// kubelet holds off liveness and readiness probes (startupProbe). A failure is
//  - transient (connection refused or reset, timeout, name not resolvable yet, server
//    starting, too many connections, lock timeout, deadlock): retried with backoff, not
//    a crash. A crash loop would only add restart delays, while the startup probe's
//    budget already bounds how long we may take;
//  - permanent (wrong password, missing database, an error in a migration's SQL):
//    waiting cannot cure it, and retrying at warn until the startup probe kills the pod
//    hides the cause for minutes. One fatal line, then the entry point exits with
//    EXIT_STARTUP_FAILED: the pod shows Error / CrashLoopBackOff at once, with the
//    cause in `kubectl logs --previous`.
import { setTimeout as sleep } from 'node:timers/promises'
import type { FastifyBaseLogger } from 'fastify'
import { reconnectDelay } from './backoff.js'
import { describeError, isTransient } from './errors.js'

/** Exit code of a permanent startup failure (EX_SOFTWARE): distinct from 78 (bad config) and 1 (crash). */
export const EXIT_STARTUP_FAILED = 70

export class PermanentStartupError extends Error {
  override name = 'PermanentStartupError'
  readonly exitCode = EXIT_STARTUP_FAILED
}

/** Runs `step` until it succeeds: transient failures retried with backoff, permanent ones thrown as PermanentStartupError. */
export async function retry<T>(app: { log: FastifyBaseLogger }, name: string, step: () => Promise<T>, signal: AbortSignal): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    signal.throwIfAborted()
    const start = performance.now()
    try {
      const result = await step()
      app.log.info({ step: name, ms: Math.round(performance.now() - start), result: Array.isArray(result) ? { migrationsApplied: result } : undefined }, `startup: ${name} ok`)
      return result
    } catch (err) {
      if (signal.aborted) throw err
      if (!isTransient(err)) {
        // describeError: code and message, URLs masked; pg and ioredis never put the password in either.
        const line = `startup: ${name} failed, not retrying: ${describeError(err)}`
        app.log.fatal({ step: name, attempt: attempt + 1, exitCode: EXIT_STARTUP_FAILED }, line)
        throw new PermanentStartupError(line)
      }
      const delay = reconnectDelay(attempt)
      app.log.warn({ step: name, attempt: attempt + 1, retryInMs: delay, reason: describeError(err) }, `startup: ${name} not ready, retrying`)
      await sleep(delay, undefined, { signal })
    }
  }
}
