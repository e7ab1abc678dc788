// Starting a request's server span with the sampling decided first. With a ratio (10 % of
// the traces, say), nine requests in ten are not sampled, and the SDK's tracer makes them
// pay for a sampled one's preparation: links and attributes cleaned, the SDK's own span
// metrics, a debug line's call, two ids from Math.random. Here an unsampled request gets
// its ids and its sampling decision, then a non-recording span: its context still carries
// the trace id and "not sampled" to the logs and to the next service (W3C traceparent), as
// the SDK's would. A sampled request goes to the SDK's tracer with the trace id the
// decision was made on, so the SDK's sampler (deterministic in the trace id, as the ratio
// sampler is) gives the same answer, and the SDK stays the only place a recording span is made.
//
// A new trace (no caller's traceparent) is decided without reading its id: every root
// sampler the configuration offers (always_on, always_off, traceidratio) is the SDK's
// ratio sampler's test, the XOR of the trace id's four 32-bit words below a bound, and
// those words are the random bytes the id is written from. Reading them back out of the
// hex id (a regex and 32 characters of a sliced string) was most of the cost of starting an
// unsampled request's span.
import { randomFillSync } from 'node:crypto'
import { SpanKind, trace, type Context, type Span, type Tracer } from '@opentelemetry/api'
import { SamplingDecision, type IdGenerator, type Sampler } from '@opentelemetry/sdk-trace'

const POOL_BYTES = 4096

/** A new trace's random bytes: where they sit in the pool, and the ratio sampler's number for them. */
interface RootDraw {
  at: number
  accumulation: number
}

/**
 * Random ids from a pool of 4 KiB of random bytes: one call into the crypto library per 170
 * trace ids, where the SDK's generator makes four Math.random() calls per id. An unsampled
 * request's ids are cut from the pool's hex digits (one conversion per refill); the SDK's
 * (recorded spans) are converted one by one. A trace id can be handed in for the next trace
 * the SDK starts.
 */
export class PooledIds implements IdGenerator {
  readonly #bytes = Buffer.allocUnsafe(POOL_BYTES)
  #digits = ''
  #at = POOL_BYTES
  /** The trace id the next generateTraceId() returns, once. */
  next: string | undefined

  // The SDK asks these for the spans it records, and keeps them until they are exported:
  // strings of their own. A slice of the pool's digits would keep all 8 KiB of them alive
  // with the span, through the young generation into the old one (docs/tracing.md).
  generateTraceId(): string {
    const preset = this.next
    this.next = undefined
    return preset ?? this.#hex(16)
  }

  generateSpanId(): string {
    return this.#hex(8)
  }

  /**
   * A new trace's 16 bytes and its first span's 8, with the number the SDK's
   * TraceIdRatioBasedSampler computes from the trace id (the XOR of its four big-endian
   * 32-bit words). Their ids: traceIdAt, spanIdAt, before the next draw.
   */
  drawRoot(): RootDraw {
    const at = this.#take(24)
    if (this.#zero(at, 16) || this.#zero(at + 16, 8)) return this.drawRoot()
    const b = this.#bytes
    return { at, accumulation: (b.readUInt32BE(at) ^ b.readUInt32BE(at + 4) ^ b.readUInt32BE(at + 8) ^ b.readUInt32BE(at + 12)) >>> 0 }
  }

  /**
   * A drawn trace id, cut from the digits: cheap to make, slow to read character by
   * character, and for an unsampled request's span only, which ends with the request.
   */
  traceIdAt(at: number): string {
    return this.#digits.slice(2 * at, 2 * at + 32)
  }

  /** The same id as a string of its own, for the SDK's sampler to read. */
  flatTraceIdAt(at: number): string {
    return this.#flat(at, 16)
  }

  spanIdAt(at: number): string {
    return this.#digits.slice(2 * at + 32, 2 * at + 48)
  }

  #take(bytes: number): number {
    if (this.#at + bytes > POOL_BYTES) {
      this.#digits = randomFillSync(this.#bytes).toString('hex')
      this.#at = 0
    }
    const at = this.#at
    this.#at += bytes
    return at
  }

  #hex(bytes: number): string {
    const at = this.#take(bytes)
    return this.#zero(at, bytes) ? this.#hex(bytes) : this.#flat(at, bytes)
  }

  #flat(at: number, bytes: number): string {
    return this.#bytes.toString('hex', at, at + bytes)
  }

  // All zeros is the W3C's invalid id (a chance of 2^-64 at most): never sent, drawn again.
  #zero(at: number, bytes: number): boolean {
    for (let i = at; i < at + bytes; i += 4) if (this.#bytes.readUInt32BE(i) !== 0) return false
    return true
  }
}

/**
 * The bound a root sampler's test is `accumulation < bound` against, computed as the SDK's
 * TraceIdRatioBasedSampler does: always_on is a ratio of 1 (every number is below 2^32),
 * always_off a ratio of 0.
 */
export function rootBound(ratio: number): number {
  const r = Number.isNaN(ratio) ? 0 : Math.min(1, Math.max(0, ratio))
  return r === 1 ? 2 ** 32 : Math.floor(r * 0xffffffff)
}

export type StartServerSpan = (name: string, parent: Context) => Span

/**
 * The SDK's tracer, sampler and id generator (the same ones it was given) behind one call.
 * `bound`: the configured root sampler as rootBound() gives it.
 */
export function serverSpans(tracer: Tracer, sampler: Sampler, ids: PooledIds, bound: number): StartServerSpan {
  const recorded = (name: string, parent: Context, traceId?: string) => {
    if (traceId !== undefined) ids.next = traceId
    try {
      return tracer.startSpan(name, { kind: SpanKind.SERVER }, parent)
    } finally {
      ids.next = undefined
    }
  }
  return (name, parent) => {
    const found = trace.getSpanContext(parent)
    if (found === undefined || !trace.isSpanContextValid(found)) {
      const { at, accumulation } = ids.drawRoot()
      if (accumulation < bound) return recorded(name, parent, ids.flatTraceIdAt(at))
      return trace.wrapSpanContext({ traceId: ids.traceIdAt(at), spanId: ids.spanIdAt(at), traceFlags: 0 })
    }
    // A caller's trace: the configured sampler decides (parent-based: the caller's sampled flag).
    const { decision, traceState } = sampler.shouldSample(parent, found.traceId, name, SpanKind.SERVER, {}, [])
    if (decision === SamplingDecision.NOT_RECORD) {
      return trace.wrapSpanContext({ traceId: found.traceId, spanId: ids.generateSpanId(), traceFlags: 0, traceState: traceState ?? found.traceState })
    }
    return recorded(name, parent)
  }
}
