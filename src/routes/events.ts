// A long-lived response (Server-Sent Events), to show how a streaming route takes part
// in the drain. Such a response never finishes by itself, so it would hold the server's
// close until the shutdown deadline (exit 1, and the kubelet's SIGKILL if that is late).
// The lifecycle's drainSignal tells the route the drain began: it sends a last event and
// ends the stream while the pod is still serving, and the client (EventSource reconnects
// by itself) comes back through the Service, to a pod that is still in the endpoints.
// The same signal serves long polls, chunked exports and WebSocket sessions.
// Only a client that asks for a stream (Accept: text/event-stream, as EventSource always
// does) gets one: any other (curl, a fuzzer, a proxy's check) gets the first event and the
// end of the response, instead of an answer that never ends.
import { Readable } from 'node:stream'
import { setTimeout as sleep } from 'node:timers/promises'
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import type { FastifyInstance } from 'fastify'
import { Type } from 'typebox'
import type { Lifecycle } from '../lifecycle.js'
import { errorResponses } from '../plugins/api-contract.js'

export interface EventsOptions {
  lifecycle: Lifecycle
}

async function* ticks(intervalMs: number, drain: AbortSignal, closed: AbortSignal, once: boolean) {
  // Reconnect after 1 s, not the browser default of 3-5 s.
  yield 'retry: 1000\n\n'
  const stop = AbortSignal.any([drain, closed])
  for (let n = 1; !stop.aborted; n++) {
    yield `id: ${n}\nevent: tick\ndata: ${JSON.stringify({ n, at: new Date().toISOString() })}\n\n`
    if (once) return
    await sleep(intervalMs, undefined, { signal: stop }).catch(() => undefined)
  }
  if (drain.aborted && !closed.aborted) yield 'event: shutdown\ndata: {"reconnect":true}\n\n'
}

const EVENT_STREAM = 'text/event-stream'
const INTERVAL_MS = 1000

export async function eventRoutes(fastify: FastifyInstance, { lifecycle }: EventsOptions) {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>()
  app.get(
    '/events',
    {
      // Not in http_request_duration_seconds: a stream lasts as long as the client stays,
      // and would read as minutes-long "requests" in the latency histogram.
      config: { metrics: false },
      schema: {
        tags: ['example'],
        summary: 'Server-Sent Events: a tick every intervalMs; ends at the drain with a shutdown event',
        description: `Streams with Accept: ${EVENT_STREAM} (EventSource sends it); any other Accept gets the first tick and the end of the response.`,
        querystring: Type.Object({ intervalMs: Type.Optional(Type.Integer({ minimum: 100, maximum: 60000, default: INTERVAL_MS, description: 'Between two ticks' })) }),
        response: {
          200: {
            description: 'The event stream: after a retry field, tick events, and a shutdown event at the drain',
            // The schema of one event: Schemathesis checks each event against it (OpenAPI 3.2 calls it itemSchema).
            content: {
              [EVENT_STREAM]: {
                schema: Type.Object({
                  id: Type.Optional(Type.String({ pattern: '^[0-9]+$' })),
                  event: Type.Union([Type.Literal('tick'), Type.Literal('shutdown')]),
                  data: Type.String({ contentMediaType: 'application/json', description: 'tick: {"n":1,"at":"<ISO time>"}; shutdown: {"reconnect":true}' }),
                }),
              },
            },
          },
          ...errorResponses(400),
        },
      },
    },
    async (req, reply) => {
      // Ends the generator when the client goes away, so no timer outlives the response.
      const closed = new AbortController()
      reply.raw.once('close', () => closed.abort())
      return reply
        .type('text/event-stream; charset=utf-8')
        .header('cache-control', 'no-store')
        // The typed reply expects one event; the stream sends them, serialised, one by one.
        .send(Readable.from(ticks(req.query.intervalMs ?? INTERVAL_MS, lifecycle.drainSignal, closed.signal, !req.headers.accept?.includes(EVENT_STREAM))) as never)
    },
  )
}
