// The sampler-first server span against the SDK's own tracer, sampler and processor (no
// fakes): what it decides and which ids it gives must be what the SDK alone would.
import { createTraceState, INVALID_SPAN_CONTEXT, ROOT_CONTEXT, trace, TraceFlags, type Context } from '@opentelemetry/api'
import {
  AlwaysOffSampler,
  AlwaysOnSampler,
  InMemorySpanExporter,
  ParentBasedSampler,
  SamplingDecision,
  SimpleSpanProcessor,
  TraceIdRatioBasedSampler,
  TracerProvider,
  type Sampler,
} from '@opentelemetry/sdk-trace'
import { describe, expect, it } from 'vitest'
import { PooledIds, serverSpans } from '../../src/tracing-server-span.js'

function setup(sampler: Sampler) {
  const ids = new PooledIds()
  const exporter = new InMemorySpanExporter()
  const provider = new TracerProvider({ sampler, idGenerator: ids, spanProcessors: [new SimpleSpanProcessor({ exporter })] })
  return { start: serverSpans(provider.getTracer('test'), sampler, ids), exporter, ids }
}

function remote(traceFlags: number, traceState = createTraceState('vendor=1')): Context {
  return trace.setSpanContext(ROOT_CONTEXT, { traceId: '0af7651916cd43dd8448eb211c80319c', spanId: 'b7ad6b7169203331', traceFlags, isRemote: true, traceState })
}

describe('PooledIds', () => {
  it('gives valid, distinct W3C ids across pool refills, and a handed-in trace id once', () => {
    const ids = new PooledIds()
    const seen = new Set<string>()
    for (let i = 0; i < 2_000; i++) {
      const traceId = ids.generateTraceId()
      const spanId = ids.generateSpanId()
      expect(trace.isSpanContextValid({ traceId, spanId, traceFlags: 0 })).toBe(true)
      seen.add(traceId).add(spanId)
    }
    expect(seen.size).toBe(4_000)
    ids.next = 'f'.repeat(32)
    expect(ids.generateTraceId()).toBe('f'.repeat(32))
    expect(ids.generateTraceId()).not.toBe('f'.repeat(32))
  })
})

describe('serverSpans', () => {
  it('decides as the SDK sampler does for each trace id, and records only what it samples', () => {
    const ratio = new TraceIdRatioBasedSampler(0.3)
    const { start, exporter } = setup(new ParentBasedSampler({ root: ratio }))
    let sampled = 0
    for (let i = 0; i < 2_000; i++) {
      const span = start('GET', ROOT_CONTEXT)
      const { traceId, traceFlags } = span.spanContext()
      const expected = ratio.shouldSample(ROOT_CONTEXT, traceId).decision === SamplingDecision.RECORD_AND_SAMPLED
      expect(span.isRecording()).toBe(expected)
      expect(traceFlags).toBe(expected ? TraceFlags.SAMPLED : TraceFlags.NONE)
      expect(trace.isSpanContextValid(span.spanContext())).toBe(true)
      if (expected) sampled++
      span.end()
    }
    expect(sampled).toBeGreaterThan(450)
    expect(sampled).toBeLessThan(750)
    // Every recorded span reached the processor with the trace id the sampler was asked about.
    expect(exporter.getFinishedSpans()).toHaveLength(sampled)
  })

  it('hands the SDK no stale trace id: a sampled root span gets the asked one, and the next span a new one', () => {
    const { start, ids } = setup(new AlwaysOnSampler())
    const first = start('GET', ROOT_CONTEXT).spanContext().traceId
    expect(ids.next).toBeUndefined()
    expect(start('GET', ROOT_CONTEXT).spanContext().traceId).not.toBe(first)
  })

  it('follows a sampled remote parent: recorded, same trace, parent linked', () => {
    const { start, exporter } = setup(new ParentBasedSampler({ root: new AlwaysOffSampler() }))
    const span = start('GET', remote(TraceFlags.SAMPLED))
    span.end()
    const [ended] = exporter.getFinishedSpans()
    expect(ended?.spanContext().traceId).toBe('0af7651916cd43dd8448eb211c80319c')
    expect(ended?.parentSpanContext?.spanId).toBe('b7ad6b7169203331')
  })

  it('propagates an unsampled remote parent: not recorded, same trace and trace state, a span id of its own', () => {
    const { start, exporter } = setup(new ParentBasedSampler({ root: new AlwaysOnSampler() }))
    const span = start('GET', remote(TraceFlags.NONE))
    span.end()
    const context = span.spanContext()
    expect(span.isRecording()).toBe(false)
    expect(context.traceId).toBe('0af7651916cd43dd8448eb211c80319c')
    expect(context.spanId).not.toBe('b7ad6b7169203331')
    expect(context.traceFlags).toBe(TraceFlags.NONE)
    expect(context.traceState?.get('vendor')).toBe('1')
    expect(exporter.getFinishedSpans()).toHaveLength(0)
  })

  it('treats an invalid parent as none', () => {
    const { start } = setup(new ParentBasedSampler({ root: new AlwaysOnSampler() }))
    const span = start('GET', trace.setSpanContext(ROOT_CONTEXT, INVALID_SPAN_CONTEXT))
    expect(span.isRecording()).toBe(true)
    expect(trace.isSpanContextValid(span.spanContext())).toBe(true)
  })
})
