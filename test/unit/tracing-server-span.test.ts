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
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import { describe, expect, it } from 'vitest'
import { PooledIds, rootBound, serverSpans } from '../../src/tracing-server-span.js'

/** `ratio`: the root sampler's, as tracing-sdk.ts passes it (always_on 1, always_off 0). */
function setup(sampler: Sampler, ratio: number) {
  const ids = new PooledIds()
  const exporter = new InMemorySpanExporter()
  const provider = new TracerProvider({ sampler, idGenerator: ids, spanProcessors: [new SimpleSpanProcessor({ exporter })] })
  return { start: serverSpans(provider.getTracer('test'), sampler, ids, rootBound(ratio)), exporter, ids }
}

/** The W3C trace id's four 32-bit words XORed, read from its hex digits: the ratio sampler's number. */
function accumulation(traceId: string): number {
  let x = 0
  for (let i = 0; i < 32; i += 8) x = (x ^ Number.parseInt(traceId.slice(i, i + 8), 16)) >>> 0
  return x
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

  it("draws a new trace's ids and the ratio sampler's number for its trace id from the same bytes", () => {
    const ids = new PooledIds()
    const seen = new Set<string>()
    for (let i = 0; i < 2_000; i++) {
      const { at, accumulation: drawn } = ids.drawRoot()
      const traceId = ids.traceIdAt(at)
      const spanId = ids.spanIdAt(at)
      expect(trace.isSpanContextValid({ traceId, spanId, traceFlags: 0 })).toBe(true)
      expect(ids.flatTraceIdAt(at)).toBe(traceId)
      expect(drawn).toBe(accumulation(traceId))
      seen.add(traceId).add(spanId)
      // Ids generated between draws come from the same pool and never repeat a drawn one.
      seen.add(ids.generateSpanId())
    }
    expect(seen.size).toBe(6_000)
  })

  // The SDK keeps a recorded span's ids until the span is exported. Each id kept here comes
  // from another refill of the pool: were it a slice of the pool's 8 KiB of hex digits, it
  // would keep them alive, as the control (an unsampled request's ids) does.
  it("gives the SDK ids that keep nothing of the pool alive, unlike an unsampled request's", () => {
    setFlagsFromString('--expose-gc')
    const gc = runInNewContext('gc') as () => void
    const retained = (id: (ids: PooledIds) => string) => {
      const ids = new PooledIds()
      const kept: string[] = []
      gc()
      const before = process.memoryUsage().heapUsed
      for (let i = 0; i < 1_000; i++) {
        kept.push(id(ids))
        for (let j = 0; j < 200; j++) ids.drawRoot()
      }
      gc()
      const bytes = process.memoryUsage().heapUsed - before
      expect(new Set(kept).size).toBe(1_000)
      return bytes
    }
    expect(retained((ids) => ids.traceIdAt(ids.drawRoot().at))).toBeGreaterThan(4_000_000)
    expect(retained((ids) => ids.generateSpanId())).toBeLessThan(1_000_000)
    expect(retained((ids) => ids.generateTraceId())).toBeLessThan(1_000_000)
  })
})

describe('serverSpans', () => {
  it.each([
    [0.3, 450, 750],
    [0.1, 120, 280],
    [0.5, 850, 1150],
    [1, 2_000, 2_000],
    [0, 0, 0],
    [1e-9, 0, 1],
    [0.999_999, 1_990, 2_000],
  ])('decides a new trace as the SDK ratio sampler (%s) does for its trace id, and records only what it samples', (share, atLeast, atMost) => {
    const ratio = new TraceIdRatioBasedSampler(share)
    const { start, exporter } = setup(new ParentBasedSampler({ root: ratio }), share)
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
    expect(sampled).toBeGreaterThanOrEqual(atLeast)
    expect(sampled).toBeLessThanOrEqual(atMost)
    // Every recorded span reached the processor with the trace id the sampler was asked about.
    expect(exporter.getFinishedSpans()).toHaveLength(sampled)
  })

  it.each([0.25, 0.1, 1 / 3, 0.999_999, 1e-9, 1])("bounds a new trace where the SDK ratio sampler (%s) does: the number just below the bound is sampled, the bound is not", (ratio) => {
    const sdk = new TraceIdRatioBasedSampler(ratio)
    const bound = rootBound(ratio)
    // A trace id of three zero words and the number: its four words XOR to the number.
    for (const n of [bound - 1, bound, bound + 1].filter((n) => n > 0 && n <= 0xffffffff)) {
      const traceId = `${'0'.repeat(24)}${n.toString(16).padStart(8, '0')}`
      expect(accumulation(traceId)).toBe(n)
      expect(sdk.shouldSample(ROOT_CONTEXT, traceId).decision === SamplingDecision.RECORD_AND_SAMPLED, `n = ${n}`).toBe(n < bound)
    }
  })

  it('records every new trace with always_on and none with always_off', () => {
    const on = setup(new ParentBasedSampler({ root: new AlwaysOnSampler() }), 1)
    const off = setup(new ParentBasedSampler({ root: new AlwaysOffSampler() }), 0)
    for (let i = 0; i < 500; i++) {
      expect(on.start('GET', ROOT_CONTEXT).isRecording()).toBe(true)
      expect(off.start('GET', ROOT_CONTEXT).isRecording()).toBe(false)
    }
  })

  it('hands the SDK no stale trace id: a sampled root span gets the asked one, and the next span a new one', () => {
    const { start, ids } = setup(new AlwaysOnSampler(), 1)
    const first = start('GET', ROOT_CONTEXT).spanContext().traceId
    expect(ids.next).toBeUndefined()
    expect(start('GET', ROOT_CONTEXT).spanContext().traceId).not.toBe(first)
  })

  it('follows a sampled remote parent: recorded, same trace, parent linked', () => {
    const { start, exporter } = setup(new ParentBasedSampler({ root: new AlwaysOffSampler() }), 0)
    const span = start('GET', remote(TraceFlags.SAMPLED))
    span.end()
    const [ended] = exporter.getFinishedSpans()
    expect(ended?.spanContext().traceId).toBe('0af7651916cd43dd8448eb211c80319c')
    expect(ended?.parentSpanContext?.spanId).toBe('b7ad6b7169203331')
  })

  it('propagates an unsampled remote parent: not recorded, same trace and trace state, a span id of its own', () => {
    const { start, exporter } = setup(new ParentBasedSampler({ root: new AlwaysOnSampler() }), 1)
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
    const { start } = setup(new ParentBasedSampler({ root: new AlwaysOnSampler() }), 1)
    const span = start('GET', trace.setSpanContext(ROOT_CONTEXT, INVALID_SPAN_CONTEXT))
    expect(span.isRecording()).toBe(true)
    expect(trace.isSpanContextValid(span.spanContext())).toBe(true)
  })
})
