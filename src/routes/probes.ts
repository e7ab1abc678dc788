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
  /** Sustained event-loop or memory pressure (pressure.ts over @fastify/under-pressure's samples). */
  underPressure: () => boolean
}

const probeRoute: RouteShorthandOptions = {
  // Successful probes every few seconds per replica would drown the logs; failures
  // and readiness flips are logged explicitly below.
  logLevel: 'warn',
  // Probes are never shed under load: shedding /health would get a busy pod killed,
  // which only moves its load onto the others. /ready reports pressure itself.
  // Nor timed in http_request_duration_seconds: they are the hottest routes (each kubelet,
  // each load balancer) and would swamp real traffic's latency; metrics.ts says more.
  // `probe` lets app-wide hooks tell probes apart (business routes answer 503 until
  // initialisation completes; probes report it themselves).
  // Nor traced, for the same reason (tracing-sdk.ts).
  config: { pressureHandler: () => undefined, metrics: false, probe: true, otel: false },
}

// Bodies are serialised once and sent as strings: probes are the hottest routes of a
// pod (every kubelet period, per replica, plus load balancers' own health checks).
interface Answer {
  status: 200 | 503
  ready: boolean
  body: object
  json: string
}
const answer = (status: 200 | 503, body: object): Answer => ({ status, ready: status === 200, body, json: JSON.stringify(body) })
const HEALTH = answer(200, { status: 'ok' })
const STARTED = answer(200, { status: 'started' })
const STARTING = answer(503, { status: 'starting' })
const NOT_STARTED = answer(503, { status: 'not ready', reason: 'starting' })
const SHUTTING_DOWN = answer(503, { status: 'not ready', reason: 'shutting down' })

function send(reply: FastifyReply, { status, json }: Answer) {
  // A cached probe answer from a proxy would hide a state change.
  return reply.code(status).header('cache-control', 'no-store').type('application/json; charset=utf-8').send(json)
}

// The body names each failing check and a short cause ("postgres: timeout"), never an
// address, host, port or user: /ready answers anyone who reaches the port. Failing
// non-critical checks leave the answer at 200, marked degraded.
function fromReport(report: ReadinessReport, underPressure: boolean): Answer {
  const failing = (critical: boolean) =>
    Object.entries(report.checks)
      .filter(([, r]) => r.status === 'fail' && r.critical === critical)
      .map(([name, r]) => `${name}: ${r.reason}`)
      .join('; ')
  const degraded = report.degraded ? { degraded: true, degradedReason: failing(false) } : {}
  if (!report.ok) return answer(503, { status: 'not ready', reason: failing(true), ...degraded, checks: report.checks })
  if (underPressure) return answer(503, { status: 'not ready', reason: 'under pressure', ...degraded, checks: report.checks })
  return answer(200, { status: 'ready', ...degraded, checks: report.checks })
}

export async function probeRoutes(app: FastifyInstance, { lifecycle, readiness, underPressure }: ProbeOptions) {
  app.get('/health', probeRoute, (_req, reply) => send(reply, HEALTH))

  app.get('/startup', probeRoute, (_req, reply) => send(reply, lifecycle.started ? STARTED : STARTING))

  // One answer per readiness report (a report lives for READY_CACHE_TTL_MS).
  const answers = new WeakMap<ReadinessReport, Answer>()
  let wasReady: boolean | undefined
  function respond(reply: FastifyReply, report: ReadinessReport) {
    const pressure = underPressure()
    let result = pressure ? undefined : answers.get(report)
    if (!result) {
      result = fromReport(report, pressure)
      if (!pressure) answers.set(report, result)
    }
    if (result.ready !== wasReady) {
      // Logged on change only, through the app logger (this route's own level is warn).
      if (result.ready) app.log.info({ readiness: result.body }, 'readiness: ready')
      else app.log.warn({ readiness: result.body }, 'readiness: not ready')
      wasReady = result.ready
    }
    return send(reply, result)
  }

  app.get('/ready', probeRoute, (_req, reply) => {
    if (!lifecycle.started) return send(reply, NOT_STARTED)
    // From the signal on: the endpoint must leave the Service before we stop serving.
    if (lifecycle.stopping) return send(reply, SHUTTING_DOWN)
    const fresh = readiness.peek()
    if (fresh) return respond(reply, fresh)
    return readiness.check().then((report) => respond(reply, report))
  })
}
