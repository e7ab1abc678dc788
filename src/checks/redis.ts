import type { Redis } from 'ioredis'
import type { Check } from '../readiness.js'

// PING through the app's own client: it fails fast when the client is disconnected
// (no offline queue), and the readiness timeout bounds a PING that hangs.
// Not critical: a cache-aside read falls back to Postgres when the cache is down, so a
// Redis outage keeps the pods in the Service (reported as degraded). Mark a Redis
// check critical only when Redis holds state the service cannot answer without
// (sessions, rate-limit counters that must be enforced, a queue it must write to).
export function redisCheck(redis: Redis, critical = false): Check {
  return {
    name: 'redis',
    critical,
    run: () => redis.ping(),
  }
}
