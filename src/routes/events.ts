// A long-lived response (Server-Sent Events), to show how a streaming route takes part
// in the drain. Such a response never finishes by itself, so it would hold the server's
// close until the shutdown deadline (exit 1, and the kubelet's SIGKILL if that is late).
// The lifecycle's drainSignal tells the route the drain began: it sends a last event and
// ends the stream while the pod is still serving, and the client (EventSource reconnects
// by itself) comes back through the Service, to a pod that is still in the endpoints.
// The same signal serves long polls, chunked exports and WebSocket sessions.
import { Readable } from 'node:stream'
import { setTimeout as sleep } from 'node:timers/promises'
import type { FastifyInstance } from 'fastify'
import type { Lifecycle } from '../lifecycle.js'

export interface EventsOptions {
  lifecycle: Lifecycle
}

async function* ticks(intervalMs: number, drain: AbortSignal, closed: AbortSignal) {
  // Reconnect after 1 s, not the browser default of 3-5 s.
  yield 'retry: 1000\n\n'
  const stop = AbortSignal.any([drain, closed])
  for (let n = 1; !stop.aborted; n++) {
    yield `id: ${n}\nevent: tick\ndata: ${JSON.stringify({ n, at: new Date().toISOString() })}\n\n`
    await sleep(intervalMs, undefined, { signal: stop }).catch(() => undefined)
  }
  if (drain.aborted && !closed.aborted) yield 'event: shutdown\ndata: {"reconnect":true}\n\n'
}

export async function eventRoutes(app: FastifyInstance, { lifecycle }: EventsOptions) {
  app.get<{ Querystring: { intervalMs: number } }>(
    '/events',
    {
      // Not in http_request_duration_seconds: a stream lasts as long as the client stays,
      // and would read as minutes-long "requests" in the latency histogram.
      config: { metrics: false },
      schema: {
        querystring: { type: 'object', properties: { intervalMs: { type: 'integer', minimum: 100, maximum: 60000, default: 1000 } } },
      },
    },
    (req, reply) => {
      // Ends the generator when the client goes away, so no timer outlives the response.
      const closed = new AbortController()
      reply.raw.once('close', () => closed.abort())
      return reply
        .type('text/event-stream; charset=utf-8')
        .header('cache-control', 'no-store')
        .send(Readable.from(ticks(req.query.intervalMs, lifecycle.drainSignal, closed.signal)))
    },
  )
}
