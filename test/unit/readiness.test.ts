import { describe, expect, it } from 'vitest'
import { createReadiness, describeError, withTimeout, TimeoutError, type Check } from '../../src/readiness.js'

function counting(name: string, behaviour: () => Promise<unknown>): Check & { calls: number } {
  const check = { name, calls: 0, run: () => (check.calls++, behaviour()) }
  return check
}
const never = () => new Promise<never>(() => {})
const delay = (ms: number) => new Promise((r) => setTimeout(r, ms))

describe('readiness', () => {
  it('reports each check with status and latency', async () => {
    const r = createReadiness({ checks: [counting('a', async () => {}), counting('b', async () => {})], timeoutMs: 100, cacheTtlMs: 0 })
    const report = await r.check()
    expect(report.ok).toBe(true)
    expect(report.checks.a).toMatchObject({ status: 'ok' })
    expect(report.checks.b?.latencyMs).toBeGreaterThanOrEqual(0)
  })

  it('names the failed check with a short reason', async () => {
    const err = Object.assign(new Error('connect ECONNREFUSED 10.0.0.1:5432'), { code: 'ECONNREFUSED' })
    const r = createReadiness({ checks: [counting('db', () => Promise.reject(err)), counting('cache', async () => {})], timeoutMs: 100, cacheTtlMs: 0 })
    const report = await r.check()
    expect(report.ok).toBe(false)
    expect(report.checks.db).toMatchObject({ status: 'fail', reason: 'connect ECONNREFUSED 10.0.0.1:5432' })
    expect(report.checks.cache?.status).toBe('ok')
  })

  it('bounds a hanging check by its timeout and runs checks in parallel', async () => {
    const r = createReadiness({ checks: [counting('a', never), counting('b', never)], timeoutMs: 300, cacheTtlMs: 0 })
    const start = performance.now()
    const report = await r.check()
    const elapsed = performance.now() - start
    expect(report.checks.a).toMatchObject({ status: 'fail', reason: 'a timed out after 300 ms' })
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

describe('describeError', () => {
  it('keeps code and message but strips URLs', () => {
    const err = Object.assign(new Error('cannot reach postgres://app:pw@db:5432/app'), { code: 'E1' })
    expect(describeError(err)).toBe('E1: cannot reach [url]')
  })
  it('describes timeouts and non-errors', async () => {
    await expect(withTimeout(never(), 5, 'x')).rejects.toBeInstanceOf(TimeoutError)
    expect(describeError('boom')).toBe('unknown error')
  })
})
