// Traces, end to end: the built server, run with its tracing preload as the image runs
// it, against real Postgres and Redis (behind Toxiproxy) exports OTLP to a real Jaeger 2,
// and every assertion reads Jaeger's query API (or the process's own output and exit).
// Requests carry a W3C traceparent with a trace id chosen here, so a request's trace is
// told apart from every other trace (a warm-up, another test's). The requests go to the
// test fixture's routes (test/fixtures/routes.ts): a cache-aside read, a slow request.
import { randomBytes } from 'node:crypto'
import { createServer, type Server, type Socket } from 'node:net'
import type { CreatedProxy } from '@testcontainers/toxiproxy'
import { Redis } from 'ioredis'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { FIXTURE_TABLE } from '../fixtures/routes.js'
import { images } from '../helpers/images.js'
import { expectAlive, until } from '../helpers/integration-probes.js'
import { parentOf, startJaeger, tag, type Jaeger, type JaegerSpan, type JaegerTrace } from '../helpers/jaeger.js'
import { sample, samples } from '../helpers/metrics.js'
import { startServer, type ServerProcess, type StartOptions } from '../helpers/server.js'
import { startContainer, startStack, upstream, type Stack } from '../helpers/stack.js'
import { terminated } from '../helpers/suite.js'

let stack: Stack
let jaeger: Jaeger
/** Toxiproxy between the service and Jaeger's OTLP port: the collector can be cut. */
let otlpProxy: CreatedProxy
const servers: ServerProcess[] = []

beforeAll(async () => {
  stack = await startStack({ toxiproxy: true })
  jaeger = await startJaeger(images.jaeger, stack.network, startContainer)
  otlpProxy = await stack.toxiproxy!.createProxy({ name: 'otlp', upstream: upstream(jaeger.container, stack.network, 4318) })
}, 240_000)

afterAll(async () => {
  await jaeger?.stop()
  await stack?.stop()
})

afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.stop()))
})

const newId = (bytes: number) => randomBytes(bytes).toString('hex')

/** The built server with tracing on, exporting to `endpoint` quickly (200 ms batches). */
async function start(service: string, env: Record<string, string> = {}, options: StartOptions = {}): Promise<ServerProcess> {
  const server = await startServer(
    {
      DATABASE_URL: stack.databaseUrl,
      REDIS_URL: stack.redisUrl,
      OTEL_EXPORTER_OTLP_ENDPOINT: jaeger.otlpUrl,
      OTEL_SERVICE_NAME: service,
      OTEL_RESOURCE_ATTRIBUTES: 'k8s.pod.name=pod-1,k8s.namespace.name=ns-1,k8s.node.name=node-1',
      OTEL_BSP_SCHEDULE_DELAY: '200',
      ...env,
    },
    { preload: true, ...options },
  )
  servers.push(server)
  return server
}

/** A request as an upstream service would send it: under a span of ours, in our trace. */
async function traced(url: string, init: RequestInit = {}) {
  const traceId = newId(16)
  const parentSpanId = newId(8)
  const res = await fetch(url, { ...init, headers: { ...init.headers, traceparent: `00-${traceId}-${parentSpanId}-01` } })
  return { res, body: await res.text(), traceId, parentSpanId }
}

/** The trace once `complete` holds for it (spans of one trace may arrive in several batches). */
function traceOnce(traceId: string, complete: (t: JaegerTrace) => boolean, timeoutMs = 20_000): Promise<JaegerTrace> {
  return until(`trace ${traceId} in Jaeger`, async () => {
    const t = await jaeger.trace(traceId)
    return t !== undefined && complete(t) ? t : undefined
  }, { timeoutMs, intervalMs: 300 })
}

const text = (s: JaegerSpan, key: string): string | undefined => {
  const value = tag(s, key)
  return value === undefined ? undefined : String(value)
}
const kind = (s: JaegerSpan) => text(s, 'span.kind')
const serverSpanOf = (t: JaegerTrace) => t.spans.find((s) => kind(s) === 'server')
const dbSystem = (s: JaegerSpan) => text(s, 'db.system.name') ?? text(s, 'db.system')
const statement = (s: JaegerSpan) => text(s, 'db.query.text') ?? text(s, 'db.statement') ?? ''

/** A request answered with data: a seeded fixture row (not the one the warm-up reads), out of the cache. */
async function uncachedRow(): Promise<string> {
  const id = '2'
  const redis = new Redis(stack.redis.getConnectionUrl())
  try {
    await redis.del(`fixture-item:${id}`)
  } finally {
    await redis.quit()
  }
  return id
}
const selectRow = `FROM ${FIXTURE_TABLE} WHERE id`

describe('a cache-aside read (GET /fixture/items/:id)', () => {
  let server: ServerProcess
  let trace: JaegerTrace
  let request: Awaited<ReturnType<typeof traced>>

  beforeAll(async () => {
    server = await start(`cache-aside-${newId(3)}`)
    // Shared by this block's tests: stopped after them (afterAll), not after the first.
    servers.splice(servers.indexOf(server), 1)
    const id = await uncachedRow()
    request = await traced(`${server.url}/fixture/items/${id}`)
    expect(request.res.status, request.body).toBe(200)
    expect(request.res.headers.get('x-cache')).toBe('miss')
    // The server span, and the request's Redis GET, Postgres SELECT and Redis SET.
    trace = await traceOnce(request.traceId, (t) => serverSpanOf(t) !== undefined && t.spans.filter((s) => dbSystem(s) === 'redis').length >= 2 && t.spans.some((s) => statement(s).includes(selectRow)))
  }, 120_000)

  afterAll(async () => {
    await server?.stop()
  })

  it('is one trace: a server span named by the route, under the caller\'s span (W3C traceparent)', () => {
    const servers = trace.spans.filter((s) => kind(s) === 'server')
    expect(servers.map((s) => s.operationName)).toEqual(['GET /fixture/items/:id'])
    const root = servers[0]!
    expect(parentOf(root)).toBe(request.parentSpanId)
    expect(tag(root, 'http.route')).toBe('/fixture/items/:id')
    expect(Number(tag(root, 'http.response.status_code') ?? tag(root, 'http.status_code'))).toBe(200)
    expect(tag(root, 'otel.status_code')).toBeUndefined()
    // Every span of the trace is this service's and descends from the server span.
    const byId = new Map(trace.spans.map((s) => [s.spanID, s]))
    for (const span of trace.spans) {
      let at: JaegerSpan | undefined = span
      while (at && at !== root) at = byId.get(parentOf(at) ?? '')
      expect(at, `${span.operationName} descends from the server span`).toBe(root)
    }
    const process = trace.processes[root.processID]!
    const resource = Object.fromEntries(process.tags.map((t) => [t.key, t.value]))
    expect(resource).toMatchObject({ 'k8s.pod.name': 'pod-1', 'k8s.namespace.name': 'ns-1', 'k8s.node.name': 'node-1', 'service.version': expect.any(String) as unknown })
  })

  it('has a child span for each Redis command and the Postgres query, and no other span', () => {
    const root = serverSpanOf(trace)!
    // One span for the request itself: everything else is a client span of its queries and commands.
    expect(trace.spans.filter((s) => kind(s) !== 'client').map((s) => s.operationName)).toEqual([root.operationName])
    const redis = trace.spans.filter((s) => dbSystem(s) === 'redis')
    expect(redis.map((s) => String(statement(s) || s.operationName).split(' ')[0]!.toLowerCase()).sort()).toEqual(['get', 'set'])
    const select = trace.spans.find((s) => statement(s).includes(selectRow))!
    for (const span of [...redis, select]) {
      expect(parentOf(span), `${span.operationName} is a child of the server span`).toBe(root.spanID)
      expect(kind(span)).toBe('client')
      // Started within the request (start times come back in whole milliseconds: 1 ms of slack).
      expect(span.startTime).toBeGreaterThanOrEqual(root.startTime)
      expect(span.startTime).toBeLessThanOrEqual(root.startTime + root.duration + 1000)
      // The cache write is off the request path (test/fixtures/routes.ts): it may end after the response.
      const awaited = String(statement(span) || span.operationName).split(' ')[0]!.toLowerCase() !== 'set'
      if (awaited) expect(span.startTime + span.duration).toBeLessThanOrEqual(root.startTime + root.duration + 1000)
    }
    // Bound parameters are not in the span (only the statement with its $1).
    expect(statement(select)).toContain('$1')
    // The trace as Jaeger returns it, for the record.
    console.info(
      `trace ${trace.traceID}:\n` +
        [...trace.spans]
          .sort((a, b) => a.startTime - b.startTime)
          .map((s) => `  ${String(s.startTime - root.startTime).padStart(6)} µs +${String(s.duration).padStart(6)} µs  ${kind(s)}  ${s.operationName}`)
          .join('\n'),
    )
  })

  it('carries its trace_id, span_id and trace_flags on every log line of the request', () => {
    const reqId = request.res.headers.get('x-request-id')
    const lines = server.logs.filter((l) => l.reqId === reqId)
    expect(lines.map((l) => l.msg)).toEqual(expect.arrayContaining(['incoming request', 'request completed']))
    for (const line of lines) {
      expect(line).toMatchObject({ trace_id: request.traceId, span_id: expect.stringMatching(/^[0-9a-f]{16}$/) as unknown, trace_flags: '01' })
      expect(trace.spans.map((s) => s.spanID)).toContain(line.span_id)
    }
  })

  it('keeps the request\'s context through its body: a PUT\'s Redis command is a child of its server span', async () => {
    // Fastify reads a body in the request's data events, which come from the socket, outside
    // the request. The body is sent after the headers, in a later read: a body that came with
    // them is read before any socket event, still in the request's context.
    const body = new ReadableStream<Uint8Array>({
      async start(controller) {
        await new Promise((resolve) => setTimeout(resolve, 200))
        controller.enqueue(new TextEncoder().encode(JSON.stringify({ value: 'x' })))
        controller.close()
      },
    })
    const put = await traced(`${server.url}/fixture/cache/traced-${newId(3)}`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body, duplex: 'half' })
    expect(put.res.status, put.body).toBe(204)
    const t = await traceOnce(put.traceId, (x) => serverSpanOf(x) !== undefined && x.spans.some((s) => dbSystem(s) === 'redis'))
    const root = serverSpanOf(t)!
    expect(root.operationName).toBe('PUT /fixture/cache/:key')
    expect(t.spans.filter((s) => dbSystem(s) === 'redis').map((s) => parentOf(s))).toEqual([root.spanID])
    const lines = server.logs.filter((l) => l.reqId === put.res.headers.get('x-request-id'))
    expect(lines.map((l) => l.msg)).toEqual(expect.arrayContaining(['incoming request', 'request completed']))
    for (const line of lines) expect(line).toMatchObject({ trace_id: put.traceId, span_id: root.spanID })
  })

  it('traces no probe and nothing on the metrics listener', async () => {
    for (const path of ['/health', '/ready', '/startup']) expect((await fetch(`${server.url}${path}`)).status).toBe(200)
    expect((await fetch(server.metricsUrl)).status).toBe(200)
    // A request after them, in the same batch: once it is in Jaeger, so would they be.
    const after = await traced(`${server.url}/fixture/items/999999`)
    expect(after.res.status).toBe(404)
    await traceOnce(after.traceId, (t) => serverSpanOf(t) !== undefined)
    const service = trace.processes[serverSpanOf(trace)!.processID]!.serviceName
    const traces = await jaeger.traces(service)
    // Every trace is an HTTP request's, with one server span: none from the startup's
    // warm-up (requests through inject(), which never reach the HTTP server).
    for (const t of traces) expect(t.spans.filter((s) => kind(s) === 'server'), t.spans.map((s) => s.operationName).join(', ')).toHaveLength(1)
    const names = traces.flatMap((t) => t.spans.map((s) => s.operationName))
    expect(names).toContain('GET /fixture/items/:id')
    expect(names.filter((n) => /health|ready|startup|metrics/.test(n))).toEqual([])
    expect(names.every((n) => n !== 'GET')).toBe(true)
  })
})

describe('errors', () => {
  it('a 5xx marks the server span as an error with the short cause; a 4xx does not', async () => {
    const server = await start(`errors-${newId(3)}`, { PG_QUERY_TIMEOUT_MS: '2000', REDIS_COMMAND_TIMEOUT_MS: '1000' })
    const bad = await traced(`${server.url}/fixture/items/abc`)
    expect(bad.res.status).toBe(400)
    const badTrace = await traceOnce(bad.traceId, (t) => serverSpanOf(t) !== undefined)
    for (const span of badTrace.spans) expect(tag(span, 'otel.status_code'), span.operationName).toBeUndefined()

    await stack.proxies!.postgres.setEnabled(false)
    let down: Awaited<ReturnType<typeof traced>>
    try {
      down = await traced(`${server.url}/fixture/items/424242`)
    } finally {
      await stack.proxies!.postgres.setEnabled(true)
    }
    expect(down.res.status).toBe(503)
    const downTrace = await traceOnce(down.traceId, (t) => serverSpanOf(t) !== undefined)
    const request = [serverSpanOf(downTrace)!]
    for (const span of request) {
      expect(tag(span, 'otel.status_code'), span.operationName).toBe('ERROR')
      expect(tag(span, 'otel.status_description'), span.operationName).toMatch(/^(connection refused|connection reset|not connected|connection error)$/)
    }
    // No connection string or credential anywhere in the trace (the Postgres client spans
    // do name the server's address and port, as the database semantic conventions ask);
    // the request's own spans carry no exception (its message could name anything).
    const text = JSON.stringify(downTrace)
    expect(text).not.toContain('s3cret-pw')
    expect(text).not.toMatch(/postgres(ql)?:\/\//)
    for (const span of request) expect(span.logs.flatMap((l) => l.fields.map((f) => f.value)), span.operationName).not.toContain('exception')
    expectAlive(server)
  }, 60_000)
})

describe('shutdown', () => {
  it('exports the span of a request in flight at SIGTERM before exiting 0', async () => {
    // Batches every minute: only the shutdown's flush can export this request's spans.
    const server = await start(`shutdown-${newId(3)}`, { OTEL_BSP_SCHEDULE_DELAY: '60000', DRAIN_DELAY_MS: '500', SHUTDOWN_TIMEOUT_MS: '10000' })
    const inFlight = traced(`${server.url}/fixture/slow?ms=1500`)
    await server.waitForLog((l) => l.msg === 'incoming request' && String(l.req && (l.req as { url: string }).url).startsWith('/fixture/slow'))
    const ended = terminated(server)
    const { res, body, traceId } = await inFlight
    expect(res.status, body).toBe(200)
    const { code, ms } = await ended
    expect(code, server.output()).toBe(0)
    expect(ms).toBeLessThan(10_000)
    const exported = server.logs.find((l) => l.msg === 'shutdown: traces exported')
    expect(exported, server.output()).toBeDefined()
    // After closing the HTTP server, before the exit.
    const order = server.logs.map((l) => l.msg ?? l.lifecycle)
    expect(order.indexOf('lifecycle: closing')).toBeLessThan(order.indexOf('shutdown: traces exported'))
    expect(order.indexOf('shutdown: traces exported')).toBeLessThan(order.indexOf('lifecycle: closed'))
    const trace = await traceOnce(traceId, (t) => serverSpanOf(t) !== undefined, 10_000)
    expect(serverSpanOf(trace)!.operationName).toBe('GET /fixture/slow')
    expect(serverSpanOf(trace)!.duration).toBeGreaterThanOrEqual(1_400_000)
  }, 60_000)
})

describe('a dead collector', () => {
  /** `count` requests, 8 at a time: their latencies (ms) and how many failed. */
  async function load(url: string, count: number) {
    const latencies: number[] = []
    let errors = 0
    let next = 0
    await Promise.all(
      Array.from({ length: 8 }, async () => {
        while (next++ < count) {
          const began = performance.now()
          const res = await fetch(url).catch(() => undefined)
          if (res?.status !== 200) errors++
          await res?.arrayBuffer()
          latencies.push(performance.now() - began)
        }
      }),
    )
    latencies.sort((a, b) => a - b)
    return { errors, p50: latencies[Math.floor(latencies.length / 2)]!, p95: latencies[Math.floor(latencies.length * 0.95)]! }
  }
  const dropped = async (server: ServerProcess) => {
    const text = await (await fetch(server.metricsUrl)).text()
    return samples(text, 'tracing_spans_dropped_total').reduce((sum, s) => sum + s.value, 0)
  }

  it('blackholed: the API answers as fast and as well, dropped spans are counted, the exit stays within the deadline', async () => {
    const endpoint = `http://${otlpProxy.host}:${otlpProxy.port}`
    // The defaults of DRAIN_DELAY_MS (5 s) and SHUTDOWN_TIMEOUT_MS (15 s): the exit time is the one a pod sees.
    const server = await start(`blackhole-${newId(3)}`, { OTEL_EXPORTER_OTLP_ENDPOINT: endpoint, OTEL_BSP_MAX_QUEUE_SIZE: '200', OTEL_BSP_MAX_EXPORT_BATCH_SIZE: '50' })
    const url = `${server.url}/fixture/items/${await uncachedRow()}`
    await load(url, 100) // warm-up
    const healthy = await load(url, 400)
    expect(healthy.errors).toBe(0)
    expect(await dropped(server)).toBe(0)

    const toxic = await otlpProxy.instance.addToxic({ name: 'otlp-blackhole', type: 'timeout', stream: 'upstream', toxicity: 1, attributes: { timeout: 0 } })
    try {
      const droppedBefore = await dropped(server)
      const cut = await load(url, 400)
      const cut2 = await load(url, 400)
      console.info(`latency healthy p50 ${healthy.p50.toFixed(1)} ms p95 ${healthy.p95.toFixed(1)} ms; collector blackholed p50 ${cut.p50.toFixed(1)}/${cut2.p50.toFixed(1)} ms p95 ${cut.p95.toFixed(1)}/${cut2.p95.toFixed(1)} ms`)
      expect(cut.errors + cut2.errors).toBe(0)
      // Unchanged within the noise of a shared 2-core machine: no request waits for the export.
      expect(Math.min(cut.p50, cut2.p50)).toBeLessThan(healthy.p50 * 2 + 5)
      expect(Math.min(cut.p95, cut2.p95)).toBeLessThan(healthy.p95 * 2 + 20)
      // 800 requests of 4+ spans each, past a queue of 200: dropped, counted, and the count rises.
      const droppedAfter = await until('tracing_spans_dropped_total rising', async () => {
        const n = await dropped(server)
        return n > droppedBefore ? n : undefined
      })
      await load(url, 100)
      expect(await until('tracing_spans_dropped_total rising again', async () => ((await dropped(server)) > droppedAfter ? true : undefined))).toBe(true)
      const text = await (await fetch(server.metricsUrl)).text()
      expect(sample(text, 'tracing_spans_pending')).toBeLessThanOrEqual(200)
      // Once the export in flight times out (5 s by default), in one line, not one per batch.
      await server.waitForLog((l) => l.msg.startsWith('tracing: span export failing'), 15_000)
      await load(url, 100)
      expect(server.logs.filter((l) => l.msg.startsWith('tracing: span export failing'))).toHaveLength(1)
      expectAlive(server)

      const { code, ms } = await terminated(server)
      console.info(`exit ${code} ${Math.round(ms)} ms after SIGTERM with the collector blackholed (drain 5 s, deadline 15 s)`)
      expect(code, server.output()).toBe(0)
      expect(ms).toBeLessThan(15_000)
      expect(server.logs.find((l) => l.msg.startsWith('shutdown: traces not all exported')), server.output()).toBeDefined()
    } finally {
      await toxic.remove()
    }
  }, 180_000)

  it('refused: requests succeed, spans are counted as dropped', async () => {
    await otlpProxy.setEnabled(false)
    try {
      const server = await start(`refused-${newId(3)}`, { OTEL_EXPORTER_OTLP_ENDPOINT: `http://${otlpProxy.host}:${otlpProxy.port}` })
      const result = await load(`${server.url}/fixture/items/${await uncachedRow()}`, 100)
      expect(result.errors).toBe(0)
      await until('spans dropped', async () => ((await dropped(server)) > 0 ? true : undefined))
      expectAlive(server)
    } finally {
      await otlpProxy.setEnabled(true)
    }
  }, 60_000)
})

describe('with no endpoint set', () => {
  it('loads no SDK and attempts no connection to a collector, not even at the default address', async () => {
    // The OTLP default addresses, where an SDK started without an endpoint would export:
    // held here for the test, so any attempt is an accepted connection.
    const accepted: string[] = []
    const listeners: Server[] = []
    for (const [host, port] of [['127.0.0.1', 4318], ['127.0.0.1', 4317], ['::1', 4318], ['::1', 4317]] as const) {
      const listener = createServer((socket: Socket) => {
        accepted.push(`${host}:${port}`)
        socket.destroy()
      })
      await new Promise<void>((resolve, reject) => {
        listener.once('error', (err: NodeJS.ErrnoException) => (err.code === 'EADDRNOTAVAIL' && host === '::1' ? resolve() : reject(new Error(`cannot hold the OTLP default address ${host}:${port} for this test: ${err.message}`))))
        listener.listen(port, host, () => resolve())
      })
      listeners.push(listener)
    }
    try {
      const server = await startServer(
        { DATABASE_URL: stack.databaseUrl, REDIS_URL: stack.redisUrl, OTEL_SERVICE_NAME: 'no-endpoint', OTEL_TRACES_SAMPLER: 'always_on', OTEL_BSP_SCHEDULE_DELAY: '100' },
        { preload: true },
      )
      servers.push(server)
      const url = `${server.url}/fixture/items/${await uncachedRow()}`
      for (let i = 0; i < 20; i++) expect((await fetch(url)).status).toBe(200)
      const { code } = await terminated(server)
      expect(code).toBe(0)
      expect(accepted).toEqual([])
      expect(server.logs.some((l) => l.msg.startsWith('tracing:'))).toBe(false)
      expect(server.logs.some((l) => 'trace_id' in l)).toBe(false)
    } finally {
      await Promise.all(listeners.map((l) => new Promise((resolve) => l.close(resolve))))
    }
  }, 60_000)

  it('exits 78 naming a bad OTEL_* variable, in one line', async () => {
    const server = await startServer({ DATABASE_URL: stack.databaseUrl, REDIS_URL: stack.redisUrl, OTEL_TRACES_SAMPLER: 'sometimes' }, { preload: true, waitFor: 'none' })
    servers.push(server)
    expect((await server.exited).code).toBe(78)
    expect(server.output()).toBe('invalid configuration: OTEL_TRACES_SAMPLER=sometimes: expected one of parentbased_always_on, parentbased_always_off, parentbased_traceidratio, always_on, always_off, traceidratio\n')
  })
})
