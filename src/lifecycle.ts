// The process's lifecycle as one small state machine. The probes read it; startup
// and shutdown drive it; metrics and long-lived routes listen to it. Each transition
// is logged once, with timings, so a pod's logs show how long it took to start and to drain.
import type { FastifyBaseLogger } from 'fastify'

export type Phase = 'starting' | 'ready' | 'draining' | 'closing' | 'closed'
export const PHASES: readonly Phase[] = ['starting', 'ready', 'draining', 'closing', 'closed']

export interface PhaseChange {
  phase: Phase
  previous: Phase
  /** How long the process spent in `previous`. */
  msInPrevious: number
}

export class Lifecycle {
  #phase: Phase = 'starting'
  // performance.now() counts from process start, so msSinceBoot includes module loading.
  #since = performance.now()
  readonly #log: FastifyBaseLogger
  readonly #listeners: Array<(change: PhaseChange) => void> = []
  readonly #drain = new AbortController()
  /** True once initialisation completed; never false again (the startup probe's contract). */
  started = false
  /**
   * True once business routes may run (the schema is in place), a little before `started`:
   * the warm-up's own requests run in between. Until then they answer 503.
   */
  serving = false

  constructor(log: FastifyBaseLogger) {
    this.#log = log
  }

  get phase(): Phase {
    return this.#phase
  }

  /** Draining, closing or closed: readiness must answer 503 from the signal on. */
  get stopping(): boolean {
    return PHASES.indexOf(this.#phase) >= PHASES.indexOf('draining')
  }

  /**
   * Aborted when the drain begins. Long-lived responses (SSE, long polls, streams) listen
   * to it to finish cleanly while the pod still has time, instead of holding the server's
   * close until the shutdown deadline.
   */
  get drainSignal(): AbortSignal {
    return this.#drain.signal
  }

  /** Called on every transition, after it is logged. */
  onChange(listener: (change: PhaseChange) => void): void {
    this.#listeners.push(listener)
  }

  /** Moves forward only; a repeated or backward transition is ignored. */
  enter(phase: Phase, details: Record<string, unknown> = {}): boolean {
    if (PHASES.indexOf(phase) <= PHASES.indexOf(this.#phase)) return false
    const now = performance.now()
    const previous = this.#phase
    const msInPrevious = Math.round(now - this.#since)
    this.#phase = phase
    this.#since = now
    if (phase === 'ready') this.started = this.serving = true
    this.#log.info({ lifecycle: phase, previous, msInPrevious, msSinceBoot: Math.round(now), ...details }, `lifecycle: ${phase}`)
    if (this.stopping && !this.#drain.signal.aborted) this.#drain.abort(new Error(`service is ${phase}`))
    for (const listener of this.#listeners) listener({ phase, previous, msInPrevious })
    return true
  }

  /** The first transition (starting) is logged at boot. */
  logStarting(details: Record<string, unknown> = {}): void {
    this.#log.info({ lifecycle: 'starting', msSinceBoot: Math.round(performance.now()), ...details }, 'lifecycle: starting')
  }
}
