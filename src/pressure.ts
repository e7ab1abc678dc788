import { setTimeout as sleep } from 'node:timers/promises'

// Sustained pressure for readiness. @fastify/under-pressure samples event-loop delay,
// utilisation and memory once per interval and sheds business requests (503) as soon as
// one sample is over a limit: shedding must react at once. Readiness must not: a pod that
// leaves the endpoints on one busy second and rejoins on the next flaps in and out of the
// Service, moving its load onto the others (which then flap too). So /ready follows the
// samples with hysteresis: unready after `samples` consecutive pressured samples, ready
// again after as many consecutive clear ones.

/** Pure state machine over samples, so the policy is unit-testable without timers. */
export class Hysteresis {
  #state = false
  #streak = 0
  constructor(readonly samples: number) {}

  get state(): boolean {
    return this.#state
  }

  /** Feeds one sample; returns the (possibly flipped) state. */
  update(sample: boolean): boolean {
    this.#streak = sample === this.#state ? 0 : this.#streak + 1
    if (this.#streak >= this.samples) {
      this.#state = sample
      this.#streak = 0
    }
    return this.#state
  }
}

/** Samples `isUnderPressure` every `intervalMs`; the timer never keeps the process alive. */
export function sustainedPressure(isUnderPressure: () => boolean, { samples, intervalMs }: { samples: number; intervalMs: number }) {
  const hysteresis = new Hysteresis(samples)
  const timer = setInterval(() => hysteresis.update(isUnderPressure()), intervalMs)
  timer.unref()
  return {
    get: (): boolean => hysteresis.state,
    stop: (): void => clearInterval(timer),
  }
}

/**
 * Calls `onSustained` once, when `isOver` has held at every sample for `forMs`. For memory:
 * a pod whose memory stays over its bound (a leak) sheds business requests forever and
 * is never restarted, since it stays under the container's limit that would have had the
 * OOM killer restart it; ending it with a drained exit is the restart it needs.
 */
export function sustainedFor(isOver: () => boolean, { forMs, intervalMs, onSustained }: { forMs: number; intervalMs: number; onSustained: (ms: number) => void }) {
  let since: number | undefined
  const timer = setInterval(() => {
    if (!isOver()) {
      since = undefined
      return
    }
    const now = performance.now()
    since ??= now
    if (now - since >= forMs) {
      clearInterval(timer)
      onSustained(Math.round(now - since))
    }
  }, intervalMs)
  timer.unref()
  return { stop: (): void => clearInterval(timer) }
}

/**
 * Waits until `isUnderPressure` is false, checking every `pollMs`, for at most `maxWaitMs`;
 * resolves with the milliseconds waited and whether it cleared. A sample that spans the
 * boot (module loading, migrations, the warm-up's cold code) shows the event loop as
 * delayed, and under-pressure sheds every business request until its next sample: a pod
 * that reports ready meanwhile answers its first requests from the Service with 503.
 */
export async function pressureCleared(isUnderPressure: () => boolean, { pollMs, maxWaitMs, signal }: { pollMs: number; maxWaitMs: number; signal?: AbortSignal }): Promise<{ ms: number; cleared: boolean }> {
  const start = performance.now()
  while (isUnderPressure()) {
    const ms = performance.now() - start
    if (ms >= maxWaitMs || signal?.aborted) return { ms: Math.round(ms), cleared: false }
    await sleep(pollMs)
  }
  return { ms: Math.round(performance.now() - start), cleared: true }
}
