// Graceful shutdown, top to bottom. On a rolling update (or scale-down, or node drain)
// Kubernetes sends SIGTERM and, at the same time, starts removing the pod from the
// Service's endpoints. The two race: kube-proxies, ingress controllers and other
// clients keep sending traffic here for a few seconds after the signal. So:
//
//   signal ─┬─ 1. draining: /ready answers 503, lifecycle.drainSignal tells long-lived
//           │     responses (SSE) to finish, everything else is served as usual for
//           │     DRAIN_DELAY_MS, but every response says `Connection: close`, so clients
//           │     reopen their connections (to pods still in the endpoints) after a
//           │     response instead of having a keep-alive connection reset under them;
//           │     requests pipelined behind such a response are not run (connections.ts)
//           ├─ 2. closing: stop accepting connections; close every connection with no
//           │     request in flight (idle keep-alive, silent preconnects, half-sent
//           │     headers, upgraded sockets); in-flight requests finish
//           ├─ 3. close the Postgres pool and the Redis client (fastify onClose hooks)
//           ├─ 4. with tracing on: export the spans still queued (those of the requests
//           │     that finished during the drain), within what is left of the deadline
//           │     minus a second, however slow or dead the collector
//           ├─ 5. close the metrics listener (after the export: the last dropped spans
//           │     can still be scraped)
//           └─ 6. closed: flush logs, exit 0
//   One deadline, SHUTDOWN_TIMEOUT_MS from the signal, bounds it all: past it we log
//   the step that hung and exit 1, before the kubelet's SIGKILL (set the pod's
//   terminationGracePeriodSeconds above preStop + SHUTDOWN_TIMEOUT_MS).
//   A second signal exits at once.
//   A fatal error (uncaught exception, unhandled rejection) skips the drain delay: the
//   process state is unknown, so it stops accepting at once, lets in-flight requests
//   finish and exits 1 for the kubelet to restart the container. The kubelet marks the
//   pod unready as soon as the container exits (about a second), far sooner than two
//   failed readiness probes (up to 10 s); a refused connection in between is never a
//   half-processed request, and clients and proxies retry it safely.
import type { FastifyInstance } from 'fastify'
import { setTimeout as sleep } from 'node:timers/promises'
import { trackConnections, type Connections } from './connections.js'
import type { Lifecycle } from './lifecycle.js'
import { tracing as runningTracing, type Tracing } from './tracing-state.js'

declare module 'fastify' {
  interface FastifyInstance {
    connections: Connections
  }
}

export interface ShutdownOptions {
  app: FastifyInstance
  lifecycle: Lifecycle
  drainDelayMs: number
  timeoutMs: number
  /** Aborted when shutdown begins, so an unfinished startup stops retrying. */
  startup?: AbortController
  /** Tracing to flush after the HTTP server has closed (default: the preload's, if on). */
  tracing?: Tracing
  /** Closed after the HTTP server and the dependencies (a metrics listener, say). */
  closeLast?: () => Promise<unknown>
  exit?: (code: number) => void
}

type Step = 'drain delay' | 'closing HTTP server (in-flight requests)' | 'closing Postgres and Redis' | 'exporting traces' | 'closing the metrics listener' | 'flushing logs'

// The trace export at shutdown stops this long before the deadline, which is left for
// closing the metrics listener and the last log lines.
const TRACE_FLUSH_MARGIN_MS = 1000

/** Called while building the app: tracks connections, and closes the silent ones at close. */
export function prepareShutdown(app: FastifyInstance): void {
  // connections.ts reads Node's HTTP/1.1 socket bookkeeping: with TLS or HTTP/2 every
  // socket would look idle and the drain would cut requests in flight. Refuse at boot;
  // TLS and HTTP/2 terminate at the ingress or the mesh, in front of the pod.
  if (app.initialConfig.https || app.initialConfig.http2) {
    throw new Error('shutdown: only plain HTTP/1.1 is supported (the https and http2 options are not): terminate TLS and HTTP/2 at the ingress or mesh')
  }
  const connections = trackConnections(app.server)
  app.decorate('connections', connections)
  // fastify's close runs the preClose hooks, then server.close() (no new connections)
  // in the same tick: closing connections with no request in flight here cannot miss
  // one accepted later. Once more after server.close(), in case a later preClose hook
  // was asynchronous.
  app.addHook('preClose', (done) => {
    connections.closeAfterResponses()
    connections.closeIdle()
    setImmediate(() => connections.closeIdle())
    done()
  })
}

export function createShutdown({ app, lifecycle, drainDelayMs, timeoutMs, startup, tracing = runningTracing(), closeLast, exit = (code) => process.exit(code) }: ShutdownOptions) {
  const log = app.log
  // The app's logger writes stdout synchronously (logger.ts), so nothing is in flight at
  // exit; flush() covers a logger given an asynchronous destination.
  const flush = () => (log as typeof log & { flush?: () => void }).flush?.()
  let step: Step | undefined
  let exitCode = 0
  let deadline: NodeJS.Timeout | undefined
  let drainTimer: AbortController | undefined

  async function shutdown(reason: string, code: number, drain: boolean): Promise<void> {
    exitCode = Math.max(exitCode, code)
    const began = performance.now()
    // The deadline is armed first, so nothing below can outlive it.
    deadline = setTimeout(() => {
      log.fatal({ step, timeoutMs, reason }, `shutdown: deadline exceeded while ${step}, exiting 1`)
      flush()
      exit(1)
    }, timeoutMs)

    step = 'drain delay'
    lifecycle.enter('draining', { reason, drainDelayMs: drain ? drainDelayMs : 0, timeoutMs })
    startup?.abort()
    app.connections.closeAfterResponses()
    if (drain) {
      drainTimer = new AbortController()
      await sleep(drainDelayMs, undefined, { signal: drainTimer.signal }).catch(() => undefined)
    }

    step = 'closing HTTP server (in-flight requests)'
    lifecycle.enter('closing', { openConnections: app.connections.size })
    // fastify.close(): stops listening, closes connections with no request in flight
    // (prepareShutdown), waits for in-flight requests, then runs the plugins' onClose
    // hooks (pool.end(), redis.quit()).
    app.server.once('close', () => (step = 'closing Postgres and Redis'))
    try {
      await app.close()
    } catch (err) {
      log.error({ err }, 'shutdown: error while closing')
      exitCode = 1
    }
    if (tracing) {
      // Before the metrics listener closes, so the last dropped spans can still be scraped.
      step = 'exporting traces'
      const budgetMs = timeoutMs - (performance.now() - began) - TRACE_FLUSH_MARGIN_MS
      const { complete, ms, counts } = await tracing.flush(budgetMs)
      if (complete) log.info({ ms, exported: counts.exported }, 'shutdown: traces exported')
      else log.warn({ ms, budgetMs: Math.round(budgetMs), lost: counts.pending, dropped: counts.droppedExportFailed + counts.droppedQueueFull }, 'shutdown: traces not all exported (collector slow or unreachable)')
    }
    if (closeLast) {
      step = 'closing the metrics listener'
      await closeLast().catch((err: unknown) => log.error({ err }, 'shutdown: error while closing the metrics listener'))
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
      // A pod still starting was never in the endpoints: nothing to drain.
      void shutdown(signal, 0, lifecycle.started)
    },
    /**
     * The process must be replaced though nothing is broken yet (memory over its bound
     * for too long): drained like a signal, then exit 1 so the kubelet restarts it.
     */
    onRestart(reason: string, details: Record<string, unknown> = {}): void {
      if (inProgress) return
      log.error({ reason, ...details }, `shutdown: ${reason}, draining and exiting 1 for a restart`)
      inProgress = true
      void shutdown(reason, 1, lifecycle.started)
    },
    /** Uncaught exception or unhandled rejection: the process state is unknown, so stop now. */
    onFatal(err: unknown, origin: string): void {
      log.fatal({ err, origin }, 'fatal error, shutting down')
      exitCode = 1
      // Already draining: end the drain delay now, the rest of the sequence follows.
      drainTimer?.abort()
      if (inProgress) return
      inProgress = true
      void shutdown(origin, 1, false)
    },
    /** Stops the timers of a shutdown in progress (tests that stop it midway). */
    dispose(): void {
      clearTimeout(deadline)
      drainTimer?.abort()
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
