// Postgres as a fastify plugin: one pool per process, decorated as `app.pg`,
// ended in onClose (after the HTTP server has stopped and in-flight requests finished).
import fp from 'fastify-plugin'
import pg from 'pg'

declare module 'fastify' {
  interface FastifyInstance {
    pg: pg.Pool
  }
}

export interface PostgresOptions {
  connectionString: string
  max: number
  queryTimeoutMs: number
  connectTimeoutMs: number
}

export default fp<PostgresOptions>(
  async (app, opts) => {
    const pool = new pg.Pool({
      connectionString: opts.connectionString,
      max: opts.max,
      // Bounded waits: a blackholed database must fail requests, not pin them and
      // with them the shutdown (which waits for in-flight requests).
      connectionTimeoutMillis: opts.connectTimeoutMs,
      query_timeout: opts.queryTimeoutMs,
      // query_timeout only stops the client waiting; this stops the server working.
      statement_timeout: opts.queryTimeoutMs,
      idleTimeoutMillis: 30_000,
      // TCP keepalive notices a peer that vanished (node drained, NAT entry expired).
      keepAlive: true,
      keepAliveInitialDelayMillis: 10_000,
      application_name: 'service-template',
    })
    // An idle client's connection can die under us (Postgres restart, failover,
    // pg_terminate_backend). pg emits that on the pool; without a listener Node
    // treats it as an uncaught error and the process crashes. The pool has already
    // discarded the client; the next query opens a new connection.
    pool.on('error', (err: Error & { code?: string }) => {
      app.log.warn({ reason: err.message, code: err.code }, 'postgres: idle connection lost')
    })
    app.decorate('pg', pool)
    app.addHook('onClose', async () => {
      const start = performance.now()
      await pool.end()
      app.log.info({ ms: Math.round(performance.now() - start) }, 'postgres: pool closed')
    })
  },
  { name: 'postgres' },
)
