// Delay before the next attempt at reaching a dependency (a reconnect, a startup step).
// Dependency-free: copied with whichever of plugins/redis.ts and retry.ts you take.

/** Exponential with jitter, capped at 5 s, so replicas that lost a dependency together don't retry in lockstep. */
export function reconnectDelay(attempt: number): number {
  const base = Math.min(100 * 2 ** Math.min(attempt, 10), 5000)
  return Math.round(base / 2 + Math.random() * (base / 2))
}
