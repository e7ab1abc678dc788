import { describe, expect, it } from 'vitest'
import { causeOf, TimeoutError } from '../../src/errors.js'
import { createReadiness, withTimeout, type Check } from '../../src/readiness.js'

function counting(name: string, behaviour: () => Promise<unknown>, critical?: boolean): Check & { calls: number } {
  const check = { name, calls: 0, critical, run: () => (check.calls++, behaviour()) }
  return check
}
const never = () => new Promise<never>(() => {})
const delay = (ms: number) => new Promise((r) => setTimeout(r, ms))

describe('readiness', () => {
  it('reports each check with status and latency', async () => {
    const r = createReadiness({ checks: [counting('a', async () => {}), counting('b', () => delay(30))], timeoutMs: 500, cacheTtlMs: 0 })
    const report = await r.check()
    expect(report.ok).toBe(true)
    expect(report.checks.a).toMatchObject({ status: 'ok' })
    // The check's own duration, measured: a 30 ms check reports about 30 ms, not a constant.
    expect(report.checks.b?.latencyMs).toBeGreaterThanOrEqual(25)
    expect(report.checks.a!.latencyMs).toBeLessThan(report.checks.b!.latencyMs)
  })

  it('names the failed check with a short cause that names no peer; the full error goes to onReport', async () => {
    const err = Object.assign(new Error('connect ECONNREFUSED 10.0.0.1:5432'), { code: 'ECONNREFUSED' })
    const reports: Array<{ errors: Record<string, unknown> }> = []
    const r = createReadiness({
      checks: [counting('db', () => Promise.reject(err)), counting('cache', async () => {})],
      timeoutMs: 100,
      cacheTtlMs: 0,
      onReport: (_report, errors) => reports.push({ errors }),
    })
    const report = await r.check()
    expect(report.ok).toBe(false)
    expect(report.checks.db).toEqual({ status: 'fail', critical: true, latencyMs: expect.any(Number) as number, reason: 'connection refused' })
    expect(JSON.stringify(report)).not.toMatch(/10\.0\.0\.1|5432/)
    expect(report.checks.cache?.status).toBe('ok')
    expect(reports).toEqual([{ errors: { db: err } }])
  })

  it('a failing non-critical check keeps the report ok, marked degraded', async () => {
    const r = createReadiness({
      checks: [counting('db', async () => {}), counting('cache', () => Promise.reject(new Error('down')), false)],
      timeoutMs: 100,
      cacheTtlMs: 0,
    })
    const report = await r.check()
    expect(report).toMatchObject({ ok: true, degraded: true, checks: { db: { status: 'ok', critical: true }, cache: { status: 'fail', critical: false } } })
    const both = createReadiness({
      checks: [counting('db', () => Promise.reject(new Error('down'))), counting('cache', () => Promise.reject(new Error('down')), false)],
      timeoutMs: 100,
      cacheTtlMs: 0,
    })
    expect(await both.check()).toMatchObject({ ok: false, degraded: true })
  })

  it('counts rounds and cache hits', async () => {
    const r = createReadiness({ checks: [counting('a', async () => {})], timeoutMs: 100, cacheTtlMs: 60_000 })
    expect(r.last()).toBeUndefined()
    await Promise.all(Array.from({ length: 10 }, () => r.check()))
    expect(r.peek()).toBeDefined()
    expect(r.stats).toEqual({ rounds: 1, cacheHits: 1 })
    await r.check()
    expect(r.stats).toEqual({ rounds: 1, cacheHits: 2 })
    expect(r.last()?.ok).toBe(true)
  })

  it('bounds a hanging check by its timeout and runs checks in parallel', async () => {
    const r = createReadiness({ checks: [counting('a', never), counting('b', never)], timeoutMs: 300, cacheTtlMs: 0 })
    const start = performance.now()
    const report = await r.check()
    const elapsed = performance.now() - start
    expect(report.checks.a).toMatchObject({ status: 'fail', reason: 'timeout' })
    expect(report.checks.b?.status).toBe('fail')
    // Parallel: two 300 ms timeouts take about 300 ms, not 600.
    expect(elapsed).toBeGreaterThanOrEqual(295)
    expect(elapsed).toBeLessThan(590)
  })

  it('shares one in-flight check between concurrent callers and caches it for the TTL', async () => {
    const a = counting('a', () => delay(20))
    const r = createReadiness({ checks: [a], timeoutMs: 100, cacheTtlMs: 60_000 })
    await Promise.all(Array.from({ length: 50 }, () => r.check()))
    await r.check()
    expect(a.calls).toBe(1)
  })

  it('checks again once the TTL has passed', async () => {
    let now = 0
    const a = counting('a', async () => {})
    const r = createReadiness({ checks: [a], timeoutMs: 100, cacheTtlMs: 1000, now: () => now })
    await r.check()
    now = 999
    await r.check()
    expect(a.calls).toBe(1)
    now = 1000
    await r.check()
    expect(a.calls).toBe(2)
  })

  it('does not stack attempts while an earlier one still hangs', async () => {
    let release!: () => void
    const hung = new Promise<void>((resolve) => (release = resolve))
    const a = counting('a', () => (a.calls === 1 ? hung : Promise.resolve()))
    const r = createReadiness({ checks: [a], timeoutMs: 20, cacheTtlMs: 0 })
    for (let i = 0; i < 3; i++) expect((await r.check()).ok).toBe(false)
    expect(a.calls).toBe(1)
    release()
    await delay(0)
    // The hung attempt has settled: the next round starts a fresh one.
    expect((await r.check()).ok).toBe(true)
    expect(a.calls).toBe(2)
  })
})

describe('withTimeout', () => {
  it('rejects with TimeoutError, which causeOf reads as a timeout', async () => {
    const err: unknown = await withTimeout(never(), 5, 'x').catch((e: unknown) => e)
    expect(err).toBeInstanceOf(TimeoutError)
    expect(causeOf(err)).toBe('timeout')
  })
})
