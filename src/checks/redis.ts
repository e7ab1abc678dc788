import type { Redis } from 'ioredis'
import type { Check } from '../readiness.js'

// PING through the app's own client: it fails fast when the client is disconnected
// (no offline queue), and the readiness timeout bounds a PING that hangs.
export function redisCheck(redis: Redis): Check {
  return {
    name: 'redis',
    run: () => redis.ping(),
  }
}
