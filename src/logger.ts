// Logging: pino JSON on stdout (what every Kubernetes log pipeline ingests), with a
// request id on each request's lines and secrets kept out.
import { randomBytes } from 'node:crypto'
import type { IncomingMessage } from 'node:http'
import type { FastifyBaseLogger } from 'fastify'
import { destination, type Bindings, type ChildLoggerOptions, type DestinationStream, type LoggerOptions } from 'pino'
import type { LogLevel } from './config.js'
import { tracing } from './tracing-state.js'

const SENSITIVE_PARAMS = /^(password|passwd|pwd|secret|token|access_token|refresh_token|id_token|api_?key|key|sig|signature|auth|authorization|code)$/i

/** Masks userinfo passwords and sensitive query parameters in a URL or path. */
export function redactUrl(value: string): string {
  // Absolute URLs (connection strings, redirect targets): scheme://user:password@host
  // Greedy up to the last '@' of the authority: an unencoded '@' in a password is common.
  let out = value.replace(/(\b[a-z][a-z0-9+.-]*:\/\/[^:/?#@\s]*):[^/?#\s]*@/gi, '$1:[REDACTED]@')
  const q = out.indexOf('?')
  if (q === -1) return out
  const query = out
    .slice(q + 1)
    .split('&')
    .map((pair) => {
      const eq = pair.indexOf('=')
      const name = eq === -1 ? pair : pair.slice(0, eq)
      let decoded = name
      try { decoded = decodeURIComponent(name) } catch { /* keep raw name */ }
      return eq !== -1 && SENSITIVE_PARAMS.test(decoded) ? `${name}=[REDACTED]` : pair
    })
    .join('&')
  out = `${out.slice(0, q)}?${query}`
  return out
}

// An incoming id is trusted only when it is short and plain, so a client cannot
// inject log lines or unbounded data through it.
const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/

// Generated ids: a random prefix per process and a counter, e.g. 3f9c0a1b2c3d4e5f-1k2. Unique
// across pods and restarts (64 random bits per process) as log correlation needs, and
// about 20 ns against 110 for a random UUID per request (crypto.randomUUID refills its
// entropy with a getrandom() system call every 128 ids). They do show a pod's request count; an
// edge proxy that sets its own x-request-id hides it.
const PROCESS_PREFIX = randomBytes(8).toString('hex')
let sequence = 0

export function requestId(req: IncomingMessage): string {
  const incoming = req.headers['x-request-id']
  return typeof incoming === 'string' && REQUEST_ID.test(incoming) ? incoming : `${PROCESS_PREFIX}-${(++sequence).toString(36)}`
}

/** What an error looks like in a log line. */
export interface SerializedError {
  type: string
  message: string
  code?: string
  stack?: string
  cause?: SerializedError
}

// pino's default serializer copies every enumerable property of an error, and those carry
// data: pg's `detail` ("Key (email)=(someone@example.com) already exists"), `where`,
// `hint`, `query`; ioredis' `command` with its arguments (keys and values); axios-like
// `config` with headers. Keep what identifies the error and where it came from; mask
// URLs in the message and stack (connection strings).
export function serializeError(err: unknown, depth = 0): unknown {
  if (!(err instanceof Error)) return err
  const code = (err as { code?: unknown }).code
  const out: SerializedError = {
    type: err.constructor?.name || err.name,
    message: redactUrl(err.message),
    ...(typeof code === 'string' || typeof code === 'number' ? { code: String(code) } : {}),
    ...(err.stack ? { stack: redactUrl(err.stack) } : {}),
  }
  if (err.cause instanceof Error && depth < 3) out.cause = serializeError(err.cause, depth + 1) as SerializedError
  return out
}

// The request id of a request's logger, added to its lines by the mixin below.
const REQUEST_ID_KEY = Symbol('reqId')
type RequestLogger = FastifyBaseLogger & { [REQUEST_ID_KEY]?: string }

// Per parent logger, the one child each route log level needs (a route's `logLevel`).
const levelChildren = new WeakMap<FastifyBaseLogger, Map<string, FastifyBaseLogger>>()

function atLevel(logger: FastifyBaseLogger, level: string): FastifyBaseLogger {
  let children = levelChildren.get(logger)
  if (children === undefined) levelChildren.set(logger, (children = new Map<string, FastifyBaseLogger>()))
  let child = children.get(level)
  if (child === undefined) children.set(level, (child = logger.child({}, { level })))
  return child
}

/**
 * fastify's childLoggerFactory: each request's logger carries its id without a pino
 * binding, on an object whose prototype is the logger of its route's level, as a pino
 * child's is. A pino child per request would serialise its bindings (with the wildcard
 * redact paths below, through the redactor) and rebuild its log methods for the route's
 * level, on every request (docs/benchmarks.md). The mixin adds the id to each line: the
 * lines read the same, and `req.log.child()` and a level set on `req.log` work as on a
 * pino child.
 */
export function requestLogger(logger: FastifyBaseLogger, bindings: Bindings, opts: ChildLoggerOptions): FastifyBaseLogger {
  // Per-route serializers (a route's `logSerializers`) need a child of their own.
  const parent = opts.serializers !== undefined ? logger.child({}, opts) : opts.level !== undefined ? atLevel(logger, opts.level) : logger
  const child = Object.create(parent) as RequestLogger
  child[REQUEST_ID_KEY] = bindings.reqId as string
  return child
}

/**
 * stdout, written synchronously. pino's default destination (sonic-boom) writes
 * asynchronously, and a write still in flight at process.exit() lands after the lines
 * the exit flushes, or is lost: the last lines of a shutdown (`lifecycle: closed`,
 * `deadline exceeded`) are the ones `kubectl logs --previous` is read for. Seen in the
 * process tests: `redis: client closed` written after `lifecycle: closed`, one run in three.
 * The price is one write(2) per line, about a microsecond; the only frequent lines are
 * the per-request ones at info, which LOG_LEVEL=warn turns off.
 */
export function logDestination(): DestinationStream {
  return destination({ dest: 1, sync: true })
}

export function loggerOptions(level: LogLevel): LoggerOptions {
  return {
    level,
    // A request's id on every line of its logger, and of that logger's children (requestLogger).
    // With tracing on, a line written inside a traced request also carries its trace_id,
    // span_id and trace_flags (the OpenTelemetry log data model's names); with tracing off
    // tracing() is undefined and this costs one call.
    mixin: (_object, _level, logger) => {
      const id = (logger as RequestLogger)[REQUEST_ID_KEY]
      const trace = tracing()?.traceFields()
      if (trace === undefined) return id === undefined ? {} : { reqId: id }
      return id === undefined ? trace : { reqId: id, ...trace }
    },
    // "level":"error", not 30/50: cloud log agents (GKE, CloudWatch, Datadog) map a
    // severity from the label; a number shows every line as INFO/DEFAULT.
    formatters: { level: (label) => ({ level: label }) },
    // Kubernetes adds its own timestamps too, but ISO time keeps the JSON readable off-cluster.
    timestamp: () => `,"time":"${new Date().toISOString()}"`,
    redact: {
      // The request serializer below logs no headers at all; these catch code that logs
      // headers or credentials of its own (`log.info({ headers: req.headers })`).
      paths: [
        'headers.authorization',
        'headers.cookie',
        'headers["proxy-authorization"]',
        'headers["x-api-key"]',
        '*.headers.authorization',
        '*.headers.cookie',
        'password',
        '*.password',
        'connectionString',
        '*.connectionString',
      ],
      censor: '[REDACTED]',
    },
    serializers: {
      err: serializeError,
      error: serializeError,
      req(req: { method: string; url: string; hostname?: string; ip?: string; headers?: Record<string, unknown> }) {
        return { method: req.method, url: redactUrl(req.url), host: req.hostname, remoteAddress: req.ip }
      },
    },
  }
}
