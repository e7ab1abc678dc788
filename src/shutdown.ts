// Graceful shutdown, top to bottom. On a rolling update (or scale-down, or node drain)
// Kubernetes sends SIGTERM and, at the same time, starts removing the pod from the
// Service's endpoints. The two race: kube-proxies, ingress controllers and other
// clients keep sending traffic here for a few seconds after the signal. So:
//
//   signal ─┬─ 1. draining: /ready answers 503, everything else is served as usual
//           │     for DRAIN_DELAY_MS, with `Connection: close` so clients reopen
//           │     their connections (to pods that are still in the endpoints)
//           ├─ 2. closing: stop accepting connections, close idle keep-alive ones at
//           │     once, let in-flight requests finish (not waiting for keep-alive timeouts)
//           ├─ 3. close the Postgres pool and the Redis client (fastify onClose hooks)
//           └─ 4. closed: flush logs, exit 0
//   One deadline, SHUTDOWN_TIMEOUT_MS from the signal, bounds it all: past it we log
//   the step that hung and exit 1, before the kubelet's SIGKILL (set the pod's
//   terminationGracePeriodSeconds above preStop + SHUTDOWN_TIMEOUT_MS).
//   A second signal exits at once; a fatal error runs the same sequence, exit 1.
import { setTimeout as sleep } from 'node:timers/promises'
import type { FastifyInstance } from 'fastify'
import type { Lifecycle } from './lifecycle.js'

export interface ShutdownOptions {
  app: FastifyInstance
  lifecycle: Lifecycle
  drainDelayMs: number
  timeoutMs: number
  /** Aborted when shutdown begins, so an unfinished startup stops retrying. */
  startup?: AbortController
  exit?: (code: number) => void
}

type Step = 'drain delay' | 'closing HTTP server (in-flight requests)' | 'closing Postgres and Redis' | 'flushing logs'

/** Every response sent while stopping asks the client to close its connection. */
export function closeConnectionsWhileStopping(app: FastifyInstance, lifecycle: Lifecycle): void {
  app.addHook('onSend', async (_req, reply) => {
    // A keep-alive connection outlives endpoint removal: kube-proxy only steers *new*
    // connections. Closing it after this response makes the client reconnect, and
    // its next connection lands on a pod that is still in the endpoints.
    if (lifecycle.stopping) reply.header('connection', 'close')
  })
}

export function createShutdown({ app, lifecycle, drainDelayMs, timeoutMs, startup, exit = (code) => process.exit(code) }: ShutdownOptions) {
  const log = app.log
  // pino writes stdout synchronously by default; flush() covers async destinations.
  const flush = () => (log as typeof log & { flush?: () => void }).flush?.()
  let step: Step | undefined
  let exitCode = 0

  async function shutdown(reason: string, code: number): Promise<void> {
    exitCode = Math.max(exitCode, code)
    const began = performance.now()
    // The deadline is armed first, so nothing below can outlive it.
    const deadline = setTimeout(() => {
      log.fatal({ step, timeoutMs, reason }, `shutdown: deadline exceeded while ${step}, exiting 1`)
      flush()
      exit(1)
    }, timeoutMs)

    step = 'drain delay'
    lifecycle.enter('draining', { reason, drainDelayMs, timeoutMs })
    startup?.abort()
    await sleep(drainDelayMs)

    step = 'closing HTTP server (in-flight requests)'
    lifecycle.enter('closing', { openConnections: await connectionCount(app) })
    // fastify.close(): stops listening, closes idle connections, waits for in-flight
    // requests, then runs the plugins' onClose hooks (pool.end(), redis.quit()).
    app.server.once('close', () => (step = 'closing Postgres and Redis'))
    try {
      await app.close()
    } catch (err) {
      log.error({ err }, 'shutdown: error while closing')
      exitCode = 1
    }

    step = 'flushing logs'
    clearTimeout(deadline)
    lifecycle.enter('closed', { totalMs: Math.round(performance.now() - began), exitCode })
    flush()
    exit(exitCode)
  }

  let inProgress = false
  return {
    /** SIGTERM/SIGINT. The kubelet sends one; a second one is a human who wants out now. */
    onSignal(signal: NodeJS.Signals): void {
      if (inProgress) {
        log.warn({ signal, step }, 'shutdown: second signal, exiting now')
        flush()
        exit(1)
        return
      }
      inProgress = true
      void shutdown(signal, 0)
    },
    /** Uncaught exception or unhandled rejection: the process state is unknown, so stop. */
    onFatal(err: unknown, origin: string): void {
      log.fatal({ err, origin }, 'fatal error, shutting down')
      if (inProgress) {
        exitCode = 1
        return
      }
      inProgress = true
      void shutdown(origin, 1)
    },
  }
}

/** Installs the handlers on the process; returns a function that removes them. */
export function handleSignals(handlers: ReturnType<typeof createShutdown>): () => void {
  const onSignal = (signal: NodeJS.Signals) => handlers.onSignal(signal)
  const onException = (err: unknown) => handlers.onFatal(err, 'uncaughtException')
  const onRejection = (err: unknown) => handlers.onFatal(err, 'unhandledRejection')
  process.on('SIGTERM', onSignal)
  process.on('SIGINT', onSignal)
  process.on('uncaughtException', onException)
  process.on('unhandledRejection', onRejection)
  return () => {
    process.off('SIGTERM', onSignal)
    process.off('SIGINT', onSignal)
    process.off('uncaughtException', onException)
    process.off('unhandledRejection', onRejection)
  }
}

function connectionCount(app: FastifyInstance): Promise<number> {
  return new Promise((resolve) => app.server.getConnections((err, n) => resolve(err ? -1 : n)))
}
