// Small helpers for the fault-injection integration tests: timed, typed HTTP probes
// and a polling loop, so tests wait for a state instead of sleeping.
import { setTimeout as sleep } from 'node:timers/promises'
import { expect } from 'vitest'
import type { ServerProcess } from './server.js'

export type Dependency = 'postgres' | 'redis'

export interface CheckBody {
  status: 'ok' | 'fail'
  critical: boolean
  latencyMs: number
  reason?: string
}

export interface ReadyBody {
  status: 'ready' | 'not ready'
  reason?: string
  /** A non-critical check is failing; still ready. */
  degraded?: true
  degradedReason?: string
  checks?: Partial<Record<Dependency, CheckBody>>
}

export interface HealthBody {
  status: string
}

export interface ProbeResult<T> {
  status: number
  body: T
  raw: string
  /** Wall time of the request, from send to full body. */
  ms: number
  cacheControl: string | null
}

/** GET `url` and parse its JSON body; bounded so a hanging server fails the test instead of stalling it. */
export async function getJson<T>(url: string, timeoutMs = 10_000): Promise<ProbeResult<T>> {
  const start = performance.now()
  const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) })
  const raw = await res.text()
  const ms = performance.now() - start
  let body: T
  try {
    body = JSON.parse(raw) as T
  } catch {
    throw new Error(`GET ${url}: HTTP ${res.status} with a non-JSON body: ${raw.slice(0, 200)}`)
  }
  return { status: res.status, body, raw, ms, cacheControl: res.headers.get('cache-control') }
}

/**
 * Calls `fn` every `intervalMs` until it returns a value other than undefined/false, and
 * returns that value. Exceptions are not retried: an assertion failing inside `fn`
 * (say, /health not 200 during an outage) fails the test at once.
 */
export async function until<T>(
  what: string,
  fn: () => Promise<T | undefined | false>,
  { timeoutMs = 30_000, intervalMs = 250 }: { timeoutMs?: number; intervalMs?: number } = {},
): Promise<T> {
  const deadline = performance.now() + timeoutMs
  let attempts = 0
  for (;;) {
    attempts++
    const value = await fn()
    if (value !== undefined && value !== false) return value
    if (performance.now() > deadline) throw new Error(`${what}: not reached within ${timeoutMs} ms (${attempts} attempts)`)
    await sleep(intervalMs)
  }
}

/** The process has neither exited nor been killed, and has logged nothing at fatal level. */
export function expectAlive(server: ServerProcess): void {
  expect(server.child.exitCode, `server exited; output:\n${server.output()}`).toBeNull()
  expect(server.child.signalCode).toBeNull()
  expect(server.logs.filter((l) => l.level === 'fatal')).toEqual([])
}
