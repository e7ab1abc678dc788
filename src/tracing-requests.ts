// The server span of each request: one span per request, named by its route pattern, under
// the caller's W3C traceparent. Set up by the SDK setup (tracing-sdk.ts) into every Fastify
// instance as it is created (Fastify's `fastify.initialization` diagnostics channel), so the
// app needs no change. Why not the http instrumentation's server span and @fastify/otel's:
//  - The span must be active before Fastify's routing: Fastify writes `incoming request`
//    before its first hook, and that line must carry the trace ids. So the span starts in
//    the server's `request` listener, and the route's onRequest hook only names it.
//  - An unsampled request (most of them, with a ratio) should cost next to nothing: the
//    sampler decides first (tracing-server-span.ts), and only a recorded span gets
//    attributes, a name, a listener.
//    The http instrumentation builds some twenty attributes and patches the request's and
//    the response's event emitters before it asks the sampler; @fastify/otel adds a
//    second span and three hooks to every request.
//  - Its context is a linked one (tracing-context.ts): the API's copies a Map per value set.
//  - A recorded request is found again through its context, not through a WeakMap keyed by
//    its response: V8's young-generation collections kept such entries' values, so every
//    span outlived its request into the old generation, and each collection took 30 times as
//    long (docs/tracing.md).
//  - Only a request with a body has its event emitter bound to the context: Fastify parses
//    the body in the request's `data`/`end` events, emitted from the socket, outside the
//    request's context; the handler runs in them. A GET needs no binding.
// Not traced: a route with `config: { otel: false }` (static paths; the probes say so), the
// requests made with inject() (the startup's warm-up), and any other server (the metrics
// listener is a plain http server).
import dc from 'node:diagnostics_channel'
import type { IncomingMessage, Server, ServerResponse } from 'node:http'
import { context, createContextKey, propagation, SpanStatusCode, trace, type Span } from '@opentelemetry/api'
import { ATTR_HTTP_REQUEST_METHOD, ATTR_HTTP_RESPONSE_STATUS_CODE, ATTR_HTTP_ROUTE, ATTR_URL_PATH, ATTR_URL_SCHEME } from '@opentelemetry/semantic-conventions'
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest, HookHandlerDoneFunction, RouteOptions } from 'fastify'
import { causeOf } from './errors.js'
import { LINKED_ROOT } from './tracing-context.js'
import type { StartServerSpan } from './tracing-server-span.js'

/** A recorded request's span and, once an error was handled, its short cause. */
interface Recorded {
  span: Span
  method: string
  cause?: string
}

const RECORDED = createContextKey('tracing-requests: the recorded request')

function recorded(): Recorded | undefined {
  return context.active().getValue(RECORDED) as Recorded | undefined
}

export function traceRequests(startSpan: StartServerSpan): void {
  dc.subscribe('fastify.initialization', (message) => instrument((message as { fastify: FastifyInstance }).fastify, startSpan))
}

function instrument(app: FastifyInstance, startSpan: StartServerSpan): void {
  const untraced = new Set<string>()
  app.addHook('onRoute', (route: RouteOptions) => {
    if ((route.config as { otel?: boolean } | undefined)?.otel === false && !/[:*]/.test(route.url)) untraced.add(route.url)
  })
  // The first hook of every request (added before any of the app's): a request answered by
  // an earlier hook (not ready, rate limited) is still named by its route.
  app.addHook('onRequest', nameSpan)
  app.addHook('onError', (_request: FastifyRequest, _reply: FastifyReply, error: FastifyError, done: HookHandlerDoneFunction) => {
    const request = recorded()
    // Never the error's message: it can name a host, a user or a query.
    if (request !== undefined) request.cause = causeOf(error)
    done()
  })

  const server: Server = app.server
  const handlers = server.listeners('request') as Array<(req: IncomingMessage, res: ServerResponse) => void>
  server.removeAllListeners('request')
  const handle = handlers.length === 1 ? handlers[0]!.bind(server) : (req: IncomingMessage, res: ServerResponse) => handlers.forEach((handler) => handler.call(server, req, res))
  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    const url = req.url ?? '/'
    const query = url.indexOf('?')
    const path = query === -1 ? url : url.slice(0, query)
    if (untraced.has(path)) return handle(req, res)
    const method = req.method ?? 'GET'
    // The propagators tracing-sdk.ts sets (W3C trace context and baggage) read these two
    // headers: without either there is nothing to extract.
    const parent = req.headers.traceparent === undefined && req.headers.baggage === undefined ? LINKED_ROOT : propagation.extract(LINKED_ROOT, req.headers)
    const span = startSpan(method, parent)
    let ctx = trace.setSpan(parent, span)
    if (span.isRecording()) {
      // The path without its query (which can carry tokens), as the semantic conventions split
      // them. One call each: an object literal of computed keys is built property by property.
      span.setAttribute(ATTR_HTTP_REQUEST_METHOD, method).setAttribute(ATTR_URL_PATH, path).setAttribute(ATTR_URL_SCHEME, 'http')
      const request: Recorded = { span, method }
      ctx = ctx.setValue(RECORDED, request)
      res.on('close', () => end(res, request))
    }
    if (req.headers['content-length'] !== undefined || req.headers['transfer-encoding'] !== undefined) context.bind(ctx, req)
    context.with(ctx, handle, undefined, req, res)
  })
}

// Runs in the request's context: the server's request listener runs Fastify's routing in it.
function nameSpan(request: FastifyRequest, _reply: FastifyReply, done: HookHandlerDoneFunction): void {
  const traced = recorded()
  if (traced !== undefined) {
    const route = request.routeOptions.url
    if (route !== undefined) traced.span.updateName(`${traced.method} ${route}`).setAttribute(ATTR_HTTP_ROUTE, route)
  }
  done()
}

// A 5xx is the service's error: the span is marked with its short cause (errors.ts), or
// none when nothing threw. A 4xx is the client's: no error status.
function end(res: ServerResponse, { span, cause }: Recorded): void {
  span.setAttribute(ATTR_HTTP_RESPONSE_STATUS_CODE, res.statusCode)
  if (res.statusCode >= 500) span.setStatus(cause === undefined ? { code: SpanStatusCode.ERROR } : { code: SpanStatusCode.ERROR, message: cause })
  span.end()
}
