import { describe, expect, it } from 'vitest'
import { LatencyTally, worstSecond } from '../cluster/latency.js'

describe('LatencyTally (per-second and per-phase latency of the cluster load client)', () => {
  it('gives nearest-rank p50 and p99 within 1% and the exact max', () => {
    const tally = new LatencyTally()
    // 1..1000 ms: p50 is 500, p99 is 990, max 1000.
    for (let ms = 1000; ms >= 1; ms--) tally.record(ms)
    const s = tally.summary()
    expect(s.n).toBe(1000)
    expect(s.p50).toBeGreaterThanOrEqual(500)
    expect(s.p50).toBeLessThanOrEqual(505)
    expect(s.p99).toBeGreaterThanOrEqual(990)
    expect(s.p99).toBeLessThanOrEqual(1000)
    expect(s.max).toBe(1000)
  })

  it('sees one slow request among a hundred fast ones at p99 but not at p50', () => {
    const tally = new LatencyTally()
    for (let i = 0; i < 98; i++) tally.record(2)
    tally.record(300)
    tally.record(322.26)
    const s = tally.summary()
    expect(s.p50).toBeCloseTo(2, 1)
    expect(s.p99).toBeGreaterThanOrEqual(300)
    expect(s.p99).toBeLessThanOrEqual(303)
    expect(s.max).toBe(322.3)
  })

  it('never reports a percentile above the max, and keeps sub-millisecond and timeout latencies apart', () => {
    const tally = new LatencyTally()
    tally.record(0.3)
    tally.record(5000)
    expect(tally.summary()).toEqual({ n: 2, p50: 0.3, p99: 5000, max: 5000 })
  })

  it('take() returns the summary and starts empty', () => {
    const tally = new LatencyTally()
    tally.record(10)
    expect(tally.take()).toEqual({ n: 1, p50: 10, p99: 10, max: 10 })
    expect(tally.take()).toEqual({ n: 0, p50: null, p99: null, max: null })
    tally.record(4)
    expect(tally.summary().max).toBe(4)
  })
})

describe('worstSecond', () => {
  const tick = (t: number, p99: number | null, max: number | null) => ({ t, latency: { n: p99 === null ? 0 : 10, p50: p99 && 1, p99, max } })
  const ticks = [tick(1000, 90, 95), tick(2000, 20, 400), tick(3000, 60, 70), tick(4000, null, null), tick(5000, 30, 35)]

  it('picks the highest p99 in (from, to] and the highest max there', () => {
    expect(worstSecond(ticks, 1000, 5000)).toEqual({ worst: ticks[2], max: 400 })
  })

  it('is undefined for a window without requests', () => {
    expect(worstSecond(ticks, 3000, 4000)).toBeUndefined()
  })
})
