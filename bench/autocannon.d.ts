// The part of autocannon's programmatic API the benchmark uses (autocannon ships no
// types and @types/autocannon is not a dependency of the template).
declare module 'autocannon' {
  interface Options {
    url: string
    connections?: number
    pipelining?: number
    /** Seconds. */
    duration?: number
    /** Total requests; overrides duration. */
    amount?: number
    timeout?: number
  }

  interface Histogram {
    average: number
    mean: number
    stddev: number
    min: number
    max: number
    total: number
    p50: number
    p90: number
    p99: number
    p99_9: number
  }

  interface Result {
    url: string
    /** Seconds. */
    duration: number
    errors: number
    timeouts: number
    non2xx: number
    '2xx': number
    statusCodeStats: Record<string, { count: number }>
    /** Milliseconds. */
    latency: Histogram
    /** Requests per second (per 1 s sample); `total` is all completed requests. */
    requests: Histogram & { sent: number }
  }

  interface Instance extends PromiseLike<Result> {
    stop(): void
    /** Every response, with its time in milliseconds (fractional, unlike the histogram). */
    on(event: 'response', listener: (client: unknown, statusCode: number, bytes: number, responseTimeMs: number) => void): this
  }

  /** Without a callback it returns a thenable tracker (not a real Promise: no finally). */
  function autocannon(options: Options): Instance
  export default autocannon
  export type { Options, Result }
}
