// Redis as a fastify plugin: one ioredis client per process, decorated as `app.redis`,
// closed in onClose. Connecting is left to startup (see startup.ts), so the process
// can listen, and answer its probes, while Redis is still unreachable.
import fp from 'fastify-plugin'
import { Redis } from 'ioredis'
import { reconnectDelay } from '../backoff.js'

declare module 'fastify' {
  interface FastifyInstance {
    redis: Redis
  }
}

export interface RedisOptions {
  url: string
  commandTimeoutMs: number
  /** The client's name in CLIENT LIST (SERVICE_NAME). */
  connectionName?: string
}

export default fp<RedisOptions>(
  async (app, opts) => {
    const redis = new Redis(opts.url, {
      lazyConnect: true,
      // During an outage commands fail at once instead of queueing without bound
      // (the default offline queue grows with every request and replays them late).
      enableOfflineQueue: false,
      maxRetriesPerRequest: 1,
      commandTimeout: opts.commandTimeoutMs,
      // A peer that vanished without closing the connection (node lost, NAT entry
      // expired) would leave the client "ready" forever, failing every command and so
      // readiness on every replica: destroy a socket that stops answering pending
      // commands, and let TCP keepalive probe idle ones, so the client reconnects.
      socketTimeout: Math.max(5000, 3 * opts.commandTimeoutMs),
      keepAlive: 10_000,
      connectTimeout: 5000,
      retryStrategy: reconnectDelay,
      connectionName: opts.connectionName,
    })
    // Without a listener an 'error' event would crash the process; ioredis reconnects
    // on its own, so an outage is one log line and a failed readiness check.
    let down = false
    let closing = false
    const lost = (reason: string, code?: string) => {
      if (!down && !closing) app.log.warn({ reason, code }, 'redis: connection lost')
      down = true
    }
    redis.on('error', (err: Error & { code?: string }) => lost(err.message, err.code))
    redis.on('close', () => lost('connection closed'))
    redis.on('ready', () => {
      if (down) app.log.info('redis: reconnected')
      down = false
    })
    app.decorate('redis', redis)
    app.addHook('onClose', async () => {
      closing = true
      const start = performance.now()
      if (redis.status === 'ready') {
        await redis.quit().catch(() => redis.disconnect())
      } else {
        redis.disconnect()
      }
      app.log.info({ ms: Math.round(performance.now() - start) }, 'redis: client closed')
    })
  },
  { name: 'redis' },
)
