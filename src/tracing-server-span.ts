// Starting a request's server span with the sampler asked first. With a ratio (10 % of the
// traces, say), nine requests in ten are not sampled, and the SDK's tracer makes them pay
// for a sampled one's preparation: links and attributes cleaned, the SDK's own span
// metrics, a debug line's call, two ids from Math.random. Here an unsampled request gets
// its ids and the same sampler's answer, then a non-recording span: its context still
// carries the trace id and "not sampled" to the logs and to the next service (W3C
// traceparent), as the SDK's would. A sampled request goes to the SDK's tracer with the
// trace id the sampler was asked about, so the sampler (deterministic in the trace id, as
// the ratio sampler is) gives the SDK the same answer, and the SDK stays the only place a
// recording span is made.
import { randomFillSync } from 'node:crypto'
import { SpanKind, trace, type Context, type Span, type Tracer } from '@opentelemetry/api'
import { SamplingDecision, type IdGenerator, type Sampler } from '@opentelemetry/sdk-trace'

const INVALID: Record<number, string> = { 16: '0'.repeat(16), 32: '0'.repeat(32) }

/**
 * Random ids cut from a string of random hex digits, refilled 4 KiB of random bytes at a
 * time: one call into the crypto library and one hex conversion per 170 trace ids, where
 * the SDK's generator makes four Math.random() calls and a hex conversion per id. A trace
 * id can be handed in for the next trace the SDK starts.
 */
export class PooledIds implements IdGenerator {
  readonly #bytes = Buffer.allocUnsafe(4096)
  #digits = ''
  #at = 0
  /** The trace id the next generateTraceId() returns, once. */
  next: string | undefined

  generateTraceId(): string {
    const preset = this.next
    this.next = undefined
    return preset ?? this.#hex(32)
  }

  generateSpanId(): string {
    return this.#hex(16)
  }

  #hex(digits: number): string {
    if (this.#at + digits > this.#digits.length) {
      this.#digits = randomFillSync(this.#bytes).toString('hex')
      this.#at = 0
    }
    const id = this.#digits.slice(this.#at, this.#at + digits)
    this.#at += digits
    // All zeros is the W3C's invalid id: its chance is 2^-64 at most, and it must never be sent.
    return id === INVALID[digits] ? this.#hex(digits) : id
  }
}

export type StartServerSpan = (name: string, parent: Context) => Span

/** The SDK's tracer, sampler and id generator (the same ones it was given) behind one call. */
export function serverSpans(tracer: Tracer, sampler: Sampler, ids: PooledIds): StartServerSpan {
  return (name, parent) => {
    const found = trace.getSpanContext(parent)
    const remote = found !== undefined && trace.isSpanContextValid(found) ? found : undefined
    const traceId = remote?.traceId ?? ids.generateTraceId()
    const { decision, traceState } = sampler.shouldSample(parent, traceId, name, SpanKind.SERVER, {}, [])
    if (decision === SamplingDecision.NOT_RECORD) {
      return trace.wrapSpanContext({ traceId, spanId: ids.generateSpanId(), traceFlags: 0, traceState: traceState ?? remote?.traceState })
    }
    if (remote === undefined) ids.next = traceId
    try {
      return tracer.startSpan(name, { kind: SpanKind.SERVER }, parent)
    } finally {
      ids.next = undefined
    }
  }
}
