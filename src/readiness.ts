// Readiness: "should this pod receive traffic right now?" Every replica's kubelet
// asks every periodSeconds, so the checks are
//  - parallel, each bounded by its own timeout: the probe answers within budget even
//    when a dependency hangs (a blackholed connection never errors, it just waits);
//  - cached for a short TTL and shared while in flight: N concurrent probes cost one
//    query, so replicas x probe rate never multiplies load on the database;
//  - never stacked: while a check from an earlier round still hangs, the next round
//    waits on that same attempt instead of opening another connection to a dead host.
// Dependency-free and pure, so it can be copied into any app and unit-tested.

export interface Check {
  name: string
  run: () => Promise<unknown>
}

export interface CheckResult {
  status: 'ok' | 'fail'
  latencyMs: number
  /** Short, secret-free reason: a timeout or the error's code/message. */
  reason?: string
}

export interface ReadinessReport {
  ok: boolean
  checks: Record<string, CheckResult>
}

export interface ReadinessOptions {
  checks: readonly Check[]
  timeoutMs: number
  cacheTtlMs: number
  now?: () => number
}

export class TimeoutError extends Error {
  override name = 'TimeoutError'
}

/** Rejects with TimeoutError once `ms` pass; the timer never keeps the process alive. */
export function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new TimeoutError(`${what} timed out after ${ms} ms`)), ms)
    timer.unref()
  })
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer))
}

/** A short reason fit for a probe body: no stack, no connection string. */
export function describeError(err: unknown): string {
  if (err instanceof TimeoutError) return err.message
  if (err instanceof Error) {
    const code = (err as { code?: unknown }).code
    const message = err.message.replace(/[a-z][a-z0-9+.-]*:\/\/\S+/gi, '[url]').slice(0, 200)
    return typeof code === 'string' && !message.includes(code) ? `${code}: ${message}` : message
  }
  return 'unknown error'
}

export function createReadiness({ checks, timeoutMs, cacheTtlMs, now = () => performance.now() }: ReadinessOptions) {
  let cached: { at: number; report: ReadinessReport } | undefined
  let inFlight: Promise<ReadinessReport> | undefined
  const pending = new Map<string, Promise<unknown>>()

  async function runOne(check: Check): Promise<CheckResult> {
    const start = now()
    let attempt = pending.get(check.name)
    if (!attempt) {
      attempt = Promise.resolve().then(check.run)
      pending.set(check.name, attempt)
      const forget = () => {
        if (pending.get(check.name) === attempt) pending.delete(check.name)
      }
      attempt.then(forget, forget)
    }
    try {
      await withTimeout(attempt, timeoutMs, check.name)
      return { status: 'ok', latencyMs: Math.round(now() - start) }
    } catch (err) {
      return { status: 'fail', latencyMs: Math.round(now() - start), reason: describeError(err) }
    }
  }

  async function runAll(): Promise<ReadinessReport> {
    const results = await Promise.all(checks.map(runOne))
    const report: ReadinessReport = { ok: results.every((r) => r.status === 'ok'), checks: {} }
    checks.forEach((c, i) => (report.checks[c.name] = results[i]!))
    cached = { at: now(), report }
    return report
  }

  function peek(): ReadinessReport | undefined {
    return cached && now() - cached.at < cacheTtlMs ? cached.report : undefined
  }

  return {
    /** The cached report while it is fresh (at most cacheTtlMs old), without waiting. */
    peek,
    /** The latest report: the cached one while fresh, else one new round shared by all callers. */
    check(): Promise<ReadinessReport> {
      const fresh = peek()
      if (fresh) return Promise.resolve(fresh)
      inFlight ??= runAll().finally(() => (inFlight = undefined))
      return inFlight
    },
  }
}

export type Readiness = ReturnType<typeof createReadiness>
