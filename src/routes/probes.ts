// The three Kubernetes probes. Each answers a different question, and mixing them up
// is the classic outage: a liveness probe that checks the database restarts every pod
// the moment the database blips, turning a dependency outage into a crash loop.
//   /health  liveness:  "is this process able to answer at all?"  Never any I/O.
//   /startup startup:   "has initialisation finished?"            Holds off the others.
//   /ready   readiness: "should I get traffic now?"                Dependencies + drain.
// GET and HEAD (fastify adds HEAD for GET routes); query strings are ignored by routing.
import type { FastifyInstance, FastifyReply, RouteShorthandOptions } from 'fastify'
import type { Lifecycle } from '../lifecycle.js'
import type { Readiness, ReadinessReport } from '../readiness.js'

export interface ProbeOptions {
  lifecycle: Lifecycle
  readiness: Readiness
  /** Sustained event-loop or memory pressure (from @fastify/under-pressure). */
  underPressure: () => boolean
}

const probeRoute: RouteShorthandOptions = {
  // Successful probes every few seconds per replica would drown the logs; failures
  // and readiness flips are logged explicitly below.
  logLevel: 'warn',
  // Probes are never shed under load: shedding /health would get a busy pod killed,
  // which only moves its load onto the others. /ready reports pressure itself.
  config: { pressureHandler: () => undefined },
}

function send(reply: FastifyReply, status: number, body: unknown) {
  // A cached probe answer from a proxy would hide a state change.
  return reply.code(status).header('cache-control', 'no-store').send(body)
}

export async function probeRoutes(app: FastifyInstance, { lifecycle, readiness, underPressure }: ProbeOptions) {
  app.get('/health', probeRoute, (_req, reply) => send(reply, 200, { status: 'ok' }))

  app.get('/startup', probeRoute, (_req, reply) =>
    lifecycle.started ? send(reply, 200, { status: 'started' }) : send(reply, 503, { status: 'starting' }),
  )

  let wasReady: boolean | undefined
  app.get('/ready', probeRoute, async (_req, reply) => {
    let body: { status: 'ready' | 'not ready'; reason?: string; checks?: ReadinessReport['checks'] }
    if (!lifecycle.started) {
      body = { status: 'not ready', reason: 'starting' }
    } else if (lifecycle.stopping) {
      // From the signal on: the endpoint must leave the Service before we stop serving.
      body = { status: 'not ready', reason: 'shutting down' }
    } else {
      const report = await readiness.check()
      const failed = Object.entries(report.checks).filter(([, r]) => r.status === 'fail')
      if (failed.length > 0) {
        body = { status: 'not ready', reason: failed.map(([name, r]) => `${name}: ${r.reason}`).join('; '), checks: report.checks }
      } else if (underPressure()) {
        body = { status: 'not ready', reason: 'under pressure', checks: report.checks }
      } else {
        body = { status: 'ready', checks: report.checks }
      }
    }
    const ready = body.status === 'ready'
    if (ready !== wasReady && lifecycle.started && !lifecycle.stopping) {
      // Logged on change only, through the app logger (this route's own level is warn).
      if (ready) app.log.info({ readiness: body }, 'readiness: ready')
      else app.log.warn({ readiness: body }, 'readiness: not ready')
    }
    if (lifecycle.started && !lifecycle.stopping) wasReady = ready
    return send(reply, ready ? 200 : 503, body)
  })
}
