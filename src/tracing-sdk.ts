// The OpenTelemetry SDK, started by the preload (tracing.ts) only when tracing is on.
// What it sets up, and why:
//  - The server span of each request: tracing-requests.ts (one span, named by the route
//    pattern, W3C traceparent in), started by tracing-server-span.ts (the sampler first,
//    and the SDK's tracer only for a sampled request). Instrumentations for the rest: http
//    and undici (fetch) for outgoing calls (a client span, traceparent out), pg and ioredis
//    (a child span per query and command). They all ask for a parent span: the readiness
//    checks and the startup's connects, which run outside any request, make no root spans
//    of their own.
//  - Not traced: the probes (their routes say `otel: false`) and the metrics listener.
//    They are the most frequent requests of a pod and say nothing about real traffic.
//  - Export: one batch processor, its queue bounded (OTEL_BSP_MAX_QUEUE_SIZE), each
//    export bounded (OTEL_EXPORTER_OTLP_TIMEOUT, 5 s by default here). A dead, blackholed
//    or slow collector never holds a request: spans beyond the queue are dropped and
//    counted (tracing_spans_dropped_total on the metrics listener).
//  - Errors: a 5xx marks the server span as an error with the short cause of /ready
//    (errors.ts: "timeout", "connection refused"), never the error's message, which can
//    name a host, a user or a query; exceptions are not recorded on spans. A 4xx is the
//    client's error, not the service's: no error status.
import { readFileSync } from 'node:fs'
import { context, trace } from '@opentelemetry/api'
import { CompositePropagator, ExportResultCode, suppressTracing, W3CBaggagePropagator, W3CTraceContextPropagator, type ExportResult } from '@opentelemetry/core'
import { resourceFromAttributes } from '@opentelemetry/resources'
import { NodeSDK } from '@opentelemetry/sdk-node'
import {
  AlwaysOffSampler,
  AlwaysOnSampler,
  BatchSpanProcessor,
  ParentBasedSampler,
  TraceIdRatioBasedSampler,
  type ReadableSpan,
  type Sampler,
  type SpanExporter,
  type SpanProcessor,
} from '@opentelemetry/sdk-trace'
import { ATTR_SERVICE_NAME, ATTR_SERVICE_VERSION } from '@opentelemetry/semantic-conventions'
import { HttpInstrumentation } from '@opentelemetry/instrumentation-http'
import { IORedisInstrumentation } from '@opentelemetry/instrumentation-ioredis'
import { PgInstrumentation } from '@opentelemetry/instrumentation-pg'
import { UndiciInstrumentation } from '@opentelemetry/instrumentation-undici'
import { causeOf } from './errors.js'
import type { TracingConfig } from './tracing-config.js'
import { traceRequests } from './tracing-requests.js'
import { PooledIds, rootBound, serverSpans } from './tracing-server-span.js'
import { setTracing, type SpanCounts, type TraceFields } from './tracing-state.js'

/** The configured sampler, and its root sampler's test as tracing-server-span.ts makes it. */
function sampler({ sampler: name, ratio }: TracingConfig): { sampler: Sampler; bound: number } {
  const [root, bound] = name.endsWith('always_off')
    ? [new AlwaysOffSampler(), rootBound(0)]
    : name.endsWith('traceidratio')
      ? [new TraceIdRatioBasedSampler(ratio), rootBound(ratio)]
      : [new AlwaysOnSampler(), rootBound(1)]
  return { sampler: name.startsWith('parentbased_') ? new ParentBasedSampler({ root }) : root, bound }
}

async function otlpExporter({ protocol, exportTimeoutMs }: TracingConfig): Promise<SpanExporter> {
  // Only the chosen protocol's exporter is loaded (grpc-js is large). Each reads the
  // endpoint, headers and certificates from the OTEL_EXPORTER_OTLP_* variables itself.
  const options = { timeoutMillis: exportTimeoutMs }
  if (protocol === 'grpc') return new (await import('@opentelemetry/exporter-trace-otlp-grpc')).OTLPTraceExporter(options)
  if (protocol === 'http/json') return new (await import('@opentelemetry/exporter-trace-otlp-http')).OTLPTraceExporter(options)
  return new (await import('@opentelemetry/exporter-trace-otlp-proto')).OTLPTraceExporter(options)
}

/** One JSON line on stdout, the logger's format (the app's logger does not exist yet, or is not ours to reach). */
function logLine(level: 'info' | 'warn', msg: string, fields: Record<string, unknown> = {}): void {
  process.stdout.write(`${JSON.stringify({ level, time: new Date().toISOString(), ...fields, msg })}\n`)
}

/**
 * Counts what becomes of every sampled span, and bounds what waits for export: the batch
 * processor's own queue bound drops silently (a diag line now and then), so the bound is
 * kept here, in front of it, where each dropped span is counted.
 */
class CountingProcessor implements SpanProcessor {
  readonly counts: SpanCounts = { exported: 0, droppedQueueFull: 0, droppedExportFailed: 0, pending: 0 }
  readonly #inner: BatchSpanProcessor
  readonly #maxPending: number
  #failing = false

  constructor(exporter: SpanExporter, config: TracingConfig) {
    const counted: SpanExporter = {
      export: (spans, done) =>
        exporter.export(spans, (result: ExportResult) => {
          this.counts.pending -= spans.length
          if (result.code === ExportResultCode.SUCCESS) this.counts.exported += spans.length
          else this.counts.droppedExportFailed += spans.length
          this.#exportResult(result)
          done(result)
        }),
      shutdown: () => exporter.shutdown(),
      forceFlush: () => exporter.forceFlush?.() ?? Promise.resolve(),
    }
    this.#inner = new BatchSpanProcessor({
      exporter: counted,
      maxQueueSize: config.maxQueueSize,
      maxExportBatchSize: config.maxExportBatchSize,
      scheduledDelayMillis: config.scheduleDelayMs,
      exportTimeoutMillis: config.exportTimeoutMs,
    })
    // Queued spans plus the batch being exported: never more than the processor's queue,
    // so it never drops one itself.
    this.#maxPending = config.maxQueueSize
  }

  // Logged on a change only: a dead collector must not write a line per export.
  #exportResult(result: ExportResult): void {
    const failing = result.code !== ExportResultCode.SUCCESS
    if (failing === this.#failing) return
    this.#failing = failing
    if (failing) logLine('warn', 'tracing: span export failing, spans are dropped (tracing_spans_dropped_total)', { cause: causeOf(result.error) })
    else logLine('info', 'tracing: span export recovered')
  }

  // The batch processor does nothing when a span starts.
  onStart(): void {}

  onEnd(span: ReadableSpan): void {
    if ((span.spanContext().traceFlags & 1) === 0) return
    if (this.counts.pending >= this.#maxPending) {
      this.counts.droppedQueueFull++
      return
    }
    this.counts.pending++
    this.#inner.onEnd(span)
  }

  forceFlush(): Promise<void> {
    return this.#inner.forceFlush()
  }

  shutdown(): Promise<void> {
    return this.#inner.shutdown()
  }
}

function serviceVersion(): string {
  try {
    return (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version
  } catch {
    return 'unknown'
  }
}

export async function startTracing(config: TracingConfig): Promise<void> {
  const processor = new CountingProcessor(await otlpExporter(config), config)
  const chosen = sampler(config)
  const ids = new PooledIds()
  const sdk = new NodeSDK({
    // OTEL_RESOURCE_ATTRIBUTES (k8s.pod.name and friends: the chart fills them from the
    // downward API) under the service's name and version; no host/process detectors,
    // whose attributes (command line, host name) add bytes to every export and nothing
    // the k8s ones do not say.
    autoDetectResources: false,
    resource: resourceFromAttributes({
      ...config.resourceAttributes,
      [ATTR_SERVICE_NAME]: config.serviceName,
      [ATTR_SERVICE_VERSION]: config.resourceAttributes[ATTR_SERVICE_VERSION] ?? serviceVersion(),
    }),
    sampler: chosen.sampler,
    idGenerator: ids,
    spanProcessors: [processor],
    // Traces only: no OTLP metrics (Prometheus has them) or logs (stdout has them).
    metricReaders: [],
    logRecordProcessors: [],
    textMapPropagator: new CompositePropagator({ propagators: [new W3CTraceContextPropagator(), new W3CBaggagePropagator()] }),
    instrumentations: [
      // Outgoing calls only: the server span is tracing-requests.ts'. Calls made outside
      // any request (none today) would each be a trace of their own.
      new HttpInstrumentation({ disableIncomingRequestInstrumentation: true, requireParentforOutgoingSpans: true }),
      new UndiciInstrumentation({ requireParentforSpans: true }),
      new PgInstrumentation({ requireParentSpan: true }),
      new IORedisInstrumentation({ requireParentSpan: true }),
    ],
  })
  sdk.start()
  traceRequests(serverSpans(trace.getTracer('tracing-requests'), chosen.sampler, ids, chosen.bound))

  setTracing({
    traceFields(): TraceFields | undefined {
      const span = trace.getSpan(context.active())
      if (span === undefined) return undefined
      const { traceId, spanId, traceFlags } = span.spanContext()
      return { trace_id: traceId, span_id: spanId, trace_flags: traceFlags < 16 ? `0${traceFlags.toString(16)}` : traceFlags.toString(16) }
    },
    counts: () => ({ ...processor.counts }),
    untraced: (fn) => context.with(suppressTracing(context.active()), fn),
    async flush(budgetMs) {
      const began = performance.now()
      let timer: NodeJS.Timeout | undefined
      const complete = await Promise.race([
        processor.forceFlush().then(
          () => true,
          () => false,
        ),
        new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), Math.max(0, budgetMs)))),
      ])
      clearTimeout(timer)
      return { complete: complete && processor.counts.pending === 0, ms: Math.round(performance.now() - began), counts: { ...processor.counts } }
    },
  })
  logLine('info', 'tracing: on', { protocol: config.protocol, sampler: config.sampler, ...(config.sampler.endsWith('traceidratio') ? { ratio: config.ratio } : {}) })
}
