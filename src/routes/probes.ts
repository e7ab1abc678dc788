// The three Kubernetes probes. Each answers a different question, and mixing them up
// is the classic outage: a liveness probe that checks the database restarts every pod
// the moment the database blips, turning a dependency outage into a crash loop.
//   /health  liveness:  "is this process able to answer at all?"  Never any I/O.
//   /startup startup:   "has initialisation finished?"            Holds off the others.
//   /ready   readiness: "should I get traffic now?"                Dependencies + drain.
// GET and HEAD (fastify adds HEAD for GET routes); query strings are ignored by routing.
import type { IncomingMessage, Server, ServerResponse } from 'node:http'
import type { FastifyInstance, FastifyReply, FastifySchema, RouteShorthandOptions } from 'fastify'
import type { Readiness, ReadinessReport } from '../readiness.js'

declare module 'fastify' {
  interface FastifyContextConfig {
    /** @fastify/under-pressure's per-route handler: one that returns nothing lets the request through. */
    pressureHandler?: () => void
    /** A probe route: app-wide hooks tell probes apart (app.ts: answered before initialisation completes). */
    probe?: boolean
  }
}

/** What the probes read of the process's state: lifecycle.ts's Lifecycle, or any object with these two. */
export interface ProbeLifecycle {
  /** Initialisation finished: /startup answers 200, /ready runs its checks. */
  readonly started: boolean
  /** Draining or closing: /ready answers 503. */
  readonly stopping: boolean
}

export interface ProbeOptions {
  lifecycle: ProbeLifecycle
  readiness: Readiness
  /** Sustained event-loop or memory pressure (pressure.ts over @fastify/under-pressure's samples). Absent: never. */
  underPressure?: () => boolean
  /**
   * Also answer GET and HEAD /health, /ready and /startup in the HTTP server's request
   * listener, before Fastify's routing and hooks (request logger, request id, metrics,
   * load shedding: nothing a probe needs), with the same bytes the routes send; anything
   * else goes on to Fastify. `requestId`: the app's genReqId, when its hooks set
   * `x-request-id` on every answer. Absent: probes are answered by the routes alone.
   */
  fastPath?: { requestId?: (req: IncomingMessage) => string }
}

// Built apart from the route, not as a literal in it: several keys are other plugins'
// (metrics.ts, @fastify/under-pressure, @fastify/rate-limit, tracing-requests.ts, the API
// contract's security headers, @fastify/swagger's summary and tags), read when the app
// registers them, and the file must type-check in an app without them or their
// declarations of these keys.
const probeRoute = (schema: FastifySchema & { summary: string }): RouteShorthandOptions => {
  const options = {
    // Successful probes every few seconds per replica would drown the logs; failures
    // and readiness flips are logged explicitly below.
    logLevel: 'warn' as const,
    // Probes are never shed under load: shedding /health would get a busy pod killed,
    // which only moves its load onto the others. /ready reports pressure itself.
    // Nor timed in http_request_duration_seconds: they are the hottest routes (each kubelet,
    // each load balancer) and would swamp real traffic's latency; metrics.ts says more.
    // `probe` lets app-wide hooks tell probes apart (business routes answer 503 until
    // initialisation completes; probes report it themselves).
    // Nor rate limited: every kubelet probe comes from the node's one address.
    // Nor traced: they would drown real traffic (tracing-requests.ts).
    // A kubelet renders no documents: browser security headers would only cost time.
    config: { pressureHandler: () => undefined, metrics: false, probe: true, rateLimit: false as const, otel: false, securityHeaders: false },
    schema: { tags: ['probes'], ...schema },
  }
  return options
}

// The probe bodies' contract, for the OpenAPI spec. The answers below are serialised once,
// by hand (hot routes); the Schemathesis run checks them against these schemas. Plain JSON
// Schema: no schema library to copy along with the probes.
const literal = (value: string | boolean, description?: string) => ({ type: typeof value, const: value, ...(description ? { description } : {}) })
const object = (properties: Record<string, object>, required: string[], description?: string) => ({
  type: 'object',
  required,
  properties,
  additionalProperties: false,
  ...(description ? { description } : {}),
})
const Status = (status: string, description: string) => object({ status: literal(status) }, ['status'], description)
const CheckResult = object(
  {
    status: { anyOf: [literal('ok'), literal('fail')] },
    critical: { type: 'boolean', description: 'Only a failing critical check fails readiness' },
    latencyMs: { type: 'integer', minimum: 0 },
    reason: { type: 'string', description: 'A short cause, e.g. "timeout"; never an address' },
  },
  ['status', 'critical', 'latencyMs'],
)
const readiness = {
  degraded: literal(true, 'A non-critical check fails (e.g. the cache): still serving'),
  degradedReason: { type: 'string' },
  checks: { type: 'object', patternProperties: { '^.*$': CheckResult } },
}
const Ready = object({ status: literal('ready'), ...readiness }, ['status', 'checks'], 'Ready for traffic')
const NotReady = object(
  {
    status: literal('not ready'),
    reason: { type: 'string', description: '"starting", "shutting down", "under pressure", or the failing checks and their causes' },
    ...readiness,
  },
  ['status', 'reason'],
  'Not ready: starting, draining, a critical dependency down, or sustained pressure',
)

// Bodies are serialised once and sent as strings: probes are the hottest routes of a
// pod (every kubelet period, per replica, plus load balancers' own health checks).
interface Answer {
  status: number
  ready: boolean
  body: object
  json: string
  /** Content-Length, as Fastify writes it. */
  length: string
}
const answer = (status: number, body: object): Answer => {
  const json = JSON.stringify(body)
  return { status, ready: status === 200, body, json, length: String(Buffer.byteLength(json)) }
}
const HEALTH = answer(200, { status: 'ok' })
const STARTED = answer(200, { status: 'started' })
const STARTING = answer(503, { status: 'starting' })
const NOT_STARTED = answer(503, { status: 'not ready', reason: 'starting' })
const SHUTTING_DOWN = answer(503, { status: 'not ready', reason: 'shutting down' })
// A readiness round that threw (it never should: a failing check is a report, not an error).
const FAILED = answer(500, { statusCode: 500, error: 'Internal Server Error', message: 'internal error' })

// The headers of every probe answer, from the routes and the fast path alike. A cached
// probe answer from a proxy would hide a state change.
const PROBE_HEADERS = { 'cache-control': 'no-store', 'content-type': 'application/json; charset=utf-8' }

function send(reply: FastifyReply, { status, json }: Answer) {
  return reply.code(status).headers(PROBE_HEADERS).send(json)
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

const sendLater = (reply: FastifyReply, answer: Answer | Promise<Answer>) => (answer instanceof Promise ? answer.then((a) => send(reply, a)) : send(reply, answer))

export async function probeRoutes(app: FastifyInstance, { lifecycle, readiness, underPressure = () => false, fastPath }: ProbeOptions) {
  const startup = () => (lifecycle.started ? STARTED : STARTING)

  // One answer per readiness report (a report lives for READY_CACHE_TTL_MS).
  const answers = new WeakMap<ReadinessReport, Answer>()
  let wasReady: boolean | undefined
  function respond(report: ReadinessReport): Answer {
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
    return result
  }
  function ready(): Answer | Promise<Answer> {
    if (!lifecycle.started) return NOT_STARTED
    // From the signal on: the endpoint must leave the Service before we stop serving.
    if (lifecycle.stopping) return SHUTTING_DOWN
    const fresh = readiness.peek()
    if (fresh) return respond(fresh)
    return readiness.check().then(respond)
  }

  app.get('/health', probeRoute({ summary: 'Liveness: the process answers (no I/O)', response: { 200: Status('ok', 'Alive') } }), (_req, reply) =>
    send(reply, HEALTH),
  )
  app.get(
    '/startup',
    probeRoute({ summary: 'Startup: initialisation finished', response: { 200: Status('started', 'Started'), 503: Status('starting', 'Still starting') } }),
    (_req, reply) => send(reply, startup()),
  )
  app.get('/ready', probeRoute({ summary: 'Readiness: should this pod get traffic now', response: { 200: Ready, 503: NotReady } }), (_req, reply) =>
    sendLater(reply, ready()),
  )

  if (fastPath) answerFirst(app.server, new Map([['/health', () => HEALTH], ['/startup', startup], ['/ready', ready]]), fastPath.requestId, app.log)
}

// The fast path: the routes' answer, written on the raw response (headers in the order
// the routes' reply writes them), for a fraction of the CPU of Fastify's request cycle.
// Kubelets and load balancers probe every replica every few seconds.
function answerFirst(server: Server, probes: Map<string, () => Answer | Promise<Answer>>, requestId: ((req: IncomingMessage) => string) | undefined, log: FastifyInstance['log']) {
  const write = (res: ServerResponse, id: string | undefined, head: boolean, { status, json, length }: Answer) => {
    // What Fastify adds to every answer while it closes.
    if (!server.listening) res.setHeader('Connection', 'close')
    const headers = { ...PROBE_HEADERS, 'content-length': length }
    res.writeHead(status, id === undefined ? headers : { 'x-request-id': id, ...headers })
    res.end(head ? undefined : json)
  }
  const handlers = server.listeners('request') as Array<(req: IncomingMessage, res: ServerResponse) => void>
  server.removeAllListeners('request')
  // Fastify's own listener, called directly when it is the only one (every request not a probe passes here).
  const rest = handlers.length === 1 ? handlers[0]! : (req: IncomingMessage, res: ServerResponse) => handlers.forEach((handler) => handler.call(server, req, res))
  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    const { method, url = '' } = req
    const query = url.indexOf('?')
    const probe = (method === 'GET' || method === 'HEAD') && probes.get(query === -1 ? url : url.slice(0, query))
    if (!probe) return rest.call(server, req, res)
    const id = requestId?.(req)
    const head = method === 'HEAD'
    const result = probe()
    if (!(result instanceof Promise)) return write(res, id, head, result)
    result.then(
      (a) => write(res, id, head, a),
      (err: unknown) => {
        log.error({ err, reqId: id }, 'probe failed')
        write(res, id, head, FAILED)
      },
    )
  })
}
