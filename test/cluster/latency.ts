// Latency tallies of the cluster suite's load client (load-client.mjs imports this file in
// its pod, where Node runs it by type stripping: erasable TypeScript only, no imports).
// A tally is a histogram of logarithmic buckets, each 1% wider than the one before, so its
// memory is fixed (about 1,800 counters, 7 kB, up to 10 minutes) however many requests a second
// or a phase holds: the busy load's 3,000 requests a second and a rollout's 100,000 cost the
// same. Percentiles are read off the buckets, within 1% of the exact value; max is exact.

/** p50, p99 and max latency (ms) of `n` requests; null when there were none. */
export interface Latency {
  n: number
  p50: number | null
  p99: number | null
  max: number | null
}

const FLOOR_MS = 0.01
const GROWTH = 1.01
const LOG_GROWTH = Math.log(GROWTH)
const CEILING_MS = 600_000
const BUCKETS = Math.ceil(Math.log(CEILING_MS / FLOOR_MS) / LOG_GROWTH) + 1

/** Bucket i holds latencies in (FLOOR_MS * GROWTH^(i-1), FLOOR_MS * GROWTH^i]. */
const bucketOf = (ms: number): number => (ms <= FLOOR_MS ? 0 : Math.min(BUCKETS - 1, Math.ceil(Math.log(ms / FLOOR_MS) / LOG_GROWTH)))
const upperBound = (i: number): number => FLOOR_MS * GROWTH ** i

/** Rounded to 0.1 ms: finer digits in the results would be noise. */
const round = (ms: number): number => Math.round(ms * 10) / 10

export class LatencyTally {
  private counts = new Uint32Array(BUCKETS)
  private n = 0
  private max = 0

  record(ms: number): void {
    const i = bucketOf(ms)
    this.counts[i] = (this.counts[i] ?? 0) + 1
    this.n++
    if (ms > this.max) this.max = ms
  }

  /**
   * Nearest-rank percentile: the smallest latency at or under which at least q of the
   * requests ended (the bucket's upper bound, never more than the exact max).
   */
  percentile(q: number): number | null {
    if (this.n === 0) return null
    const rank = Math.max(1, Math.ceil(q * this.n))
    let seen = 0
    for (let i = 0; i < BUCKETS; i++) {
      seen += this.counts[i] ?? 0
      if (seen >= rank) return Math.min(upperBound(i), this.max)
    }
    return this.max
  }

  summary(): Latency {
    const p50 = this.percentile(0.5)
    const p99 = this.percentile(0.99)
    return { n: this.n, p50: p50 === null ? null : round(p50), p99: p99 === null ? null : round(p99), max: this.n ? round(this.max) : null }
  }

  /** The summary so far, and an empty tally for what follows. */
  take(): Latency {
    const s = this.summary()
    this.counts = new Uint32Array(BUCKETS)
    this.n = 0
    this.max = 0
    return s
  }
}

/** One line for a latency summary, as printed with the figures. */
export const describeLatency = (l: Latency): string =>
  l.n === 0 ? 'no requests' : `p50 ${l.p50} ms, p99 ${l.p99} ms, max ${l.max} ms`

/**
 * The second with the highest p99 among per-second `ticks` (each at the end of its second)
 * in (from, to], and the highest max among them; undefined without a request in that window.
 */
export function worstSecond<T extends { t: number; latency: Latency }>(ticks: T[], from: number, to: number): { worst: T; max: number } | undefined {
  let worst: T | undefined
  let max = 0
  for (const tick of ticks) {
    if (tick.t <= from || tick.t > to || tick.latency.p99 === null) continue
    if (!worst || tick.latency.p99 > (worst.latency.p99 ?? 0)) worst = tick
    max = Math.max(max, tick.latency.max ?? 0)
  }
  return worst && { worst, max }
}
