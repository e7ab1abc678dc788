// Readiness: "should this pod receive traffic right now?" Every replica's kubelet
// asks every periodSeconds, so the checks are
//  - parallel, each bounded by its own timeout: the probe answers within budget even
//    when a dependency hangs (a blackholed connection never errors, it just waits);
//  - cached for a short TTL and shared while in flight: N concurrent probes of one pod
//    (kubelet, load balancer health checks) cost one query. The cache is per process, so
//    the database still sees one query per replica per TTL or probe period, whichever is
//    longer: replicas multiply the load, the probes' count does not;
//  - never stacked: while a check from an earlier round still hangs, the next round
//    waits on that same attempt instead of opening another connection to a dead host.
//  - critical or not: only a critical check (one the service cannot serve without)
//    fails readiness. A failing non-critical one (a cache) is reported as degraded
//    while the pod stays in the Service: readiness fails on every replica at once when
//    a shared dependency blips, so a non-critical check that failed readiness would turn
//    a cache outage into a full outage.
// Dependency-free and pure (errors.ts reads the causes), so it can be copied into any
// app and unit-tested.
import { causeOf, TimeoutError } from './errors.js'

export interface Check {
  name: string
  /** Fails readiness when it fails. Default true; false for what the service can serve without. */
  critical?: boolean
  run: () => Promise<unknown>
}

export interface CheckResult {
  status: 'ok' | 'fail'
  critical: boolean
  latencyMs: number
  /**
   * Short cause fit for a probe body (`timeout`, `connection refused`, `auth failed`...):
   * never an address, host name, port or user name, since /ready answers anyone who
   * reaches the port. The full error goes to the logs (see `onReport`).
   */
  reason?: string
}

export interface ReadinessReport {
  /** Every critical check passed. */
  ok: boolean
  /** Some non-critical check failed: serving, with less (no cache, say). */
  degraded: boolean
  checks: Record<string, CheckResult>
}

export interface ReadinessOptions {
  checks: readonly Check[]
  timeoutMs: number
  cacheTtlMs: number
  /** Called once per round with its report and the full errors of failed checks (for logs and metrics). */
  onReport?: (report: ReadinessReport, errors: Record<string, unknown>) => void
  now?: () => number
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

export function createReadiness({ checks, timeoutMs, cacheTtlMs, onReport, now = () => performance.now() }: ReadinessOptions) {
  let cached: { at: number; report: ReadinessReport } | undefined
  const stats = { rounds: 0, cacheHits: 0 }
  let inFlight: Promise<ReadinessReport> | undefined
  const pending = new Map<string, Promise<unknown>>()

  async function runOne(check: Check, errors: Record<string, unknown>): Promise<CheckResult> {
    const start = now()
    const critical = check.critical ?? true
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
      return { status: 'ok', critical, latencyMs: Math.round(now() - start) }
    } catch (err) {
      errors[check.name] = err
      return { status: 'fail', critical, latencyMs: Math.round(now() - start), reason: causeOf(err) }
    }
  }

  async function runAll(): Promise<ReadinessReport> {
    const errors: Record<string, unknown> = {}
    const results = await Promise.all(checks.map((c) => runOne(c, errors)))
    const report: ReadinessReport = {
      ok: results.every((r) => r.status === 'ok' || !r.critical),
      degraded: results.some((r) => r.status === 'fail' && !r.critical),
      checks: {},
    }
    checks.forEach((c, i) => (report.checks[c.name] = results[i]!))
    cached = { at: now(), report }
    stats.rounds++
    onReport?.(report, errors)
    return report
  }

  function peek(): ReadinessReport | undefined {
    if (cached && now() - cached.at < cacheTtlMs) {
      stats.cacheHits++
      return cached.report
    }
    return undefined
  }

  return {
    /** Rounds of checks run, and probes answered from the cache: "one round per TTL", observable. */
    stats: stats as Readonly<typeof stats>,
    /** The last report, however old (metrics read it without triggering a round). */
    last: (): ReadinessReport | undefined => cached?.report,
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
