// The process's lifecycle as one small state machine. The probes read it; startup
// and shutdown drive it. Each transition is logged once, with timings, so a pod's
// logs show how long it took to start and to drain.
import type { FastifyBaseLogger } from 'fastify'

export type Phase = 'starting' | 'ready' | 'draining' | 'closing' | 'closed'
const ORDER: readonly Phase[] = ['starting', 'ready', 'draining', 'closing', 'closed']

export class Lifecycle {
  #phase: Phase = 'starting'
  // performance.now() counts from process start, so msSinceBoot includes module loading.
  #since = performance.now()
  readonly #log: FastifyBaseLogger
  /** True once initialisation completed; never false again (the startup probe's contract). */
  started = false

  constructor(log: FastifyBaseLogger) {
    this.#log = log
  }

  get phase(): Phase {
    return this.#phase
  }

  /** Draining, closing or closed: readiness must answer 503 from the signal on. */
  get stopping(): boolean {
    return ORDER.indexOf(this.#phase) >= ORDER.indexOf('draining')
  }

  /** Moves forward only; a repeated or backward transition is ignored. */
  enter(phase: Phase, details: Record<string, unknown> = {}): boolean {
    if (ORDER.indexOf(phase) <= ORDER.indexOf(this.#phase)) return false
    const now = performance.now()
    const previous = this.#phase
    this.#phase = phase
    if (phase === 'ready') this.started = true
    this.#log.info(
      {
        lifecycle: phase,
        previous,
        msInPrevious: Math.round(now - this.#since),
        msSinceBoot: Math.round(now),
        ...details,
      },
      `lifecycle: ${phase}`,
    )
    this.#since = now
    return true
  }

  /** The first transition (starting) is logged at boot. */
  logStarting(details: Record<string, unknown> = {}): void {
    this.#log.info({ lifecycle: 'starting', msSinceBoot: Math.round(performance.now()), ...details }, 'lifecycle: starting')
  }
}
