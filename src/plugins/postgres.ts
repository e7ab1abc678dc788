// Postgres as a fastify plugin: one pool per process, decorated as `app.pg`,
// ended in onClose (after the HTTP server has stopped and in-flight requests finished),
// and `app.pgDedicatedClient()` for work that must not share the pool's limits.
import fp from 'fastify-plugin'
import pg from 'pg'

declare module 'fastify' {
  interface FastifyInstance {
    pg: pg.Pool
    /**
     * A new client outside the pool, with the pool's connection settings but no
     * client-side query timeout, for long work such as migrations (an index build, a
     * wait on another replica's lock). The caller connects and ends it.
     */
    pgDedicatedClient(purpose: string): pg.Client
  }
}

export interface PostgresOptions {
  connectionString: string
  max: number
  /** Idle connections kept open (a new pod opens them before it reports ready: see startup.ts). */
  min?: number
  queryTimeoutMs: number
  connectTimeoutMs: number
  /** application_name of the pool's connections; dedicated ones are `<applicationName>/<purpose>` (SERVICE_NAME). */
  applicationName?: string
}

/**
 * A client outside any pool, with no client-side query timeout (migrations, the readiness
 * check): the connection settings the pool uses, named `applicationName` in pg_stat_activity
 * (`<service>/<purpose>`, so a DBA sees which service and what for).
 */
export function createPgClient(connectionString: string, applicationName: string, connectTimeoutMs = 5000): pg.Client {
  return new pg.Client({ ...connectionSettings(connectionString, connectTimeoutMs), application_name: applicationName })
}

function connectionSettings(connectionString: string, connectTimeoutMs: number) {
  return {
    connectionString,
    // Bounded: a blackholed database must fail the attempt, not pin it.
    connectionTimeoutMillis: connectTimeoutMs,
    // TCP keepalive notices a peer that vanished (node drained, NAT entry expired).
    keepAlive: true,
    keepAliveInitialDelayMillis: 10_000,
  }
}

export default fp<PostgresOptions>(
  async (app, opts) => {
    const connection = connectionSettings(opts.connectionString, opts.connectTimeoutMs)
    const pool = new pg.Pool({
      ...connection,
      max: opts.max,
      min: opts.min ?? 0,
      // Bounded waits: a blackholed database must fail requests, not pin them and
      // with them the shutdown (which waits for in-flight requests).
      query_timeout: opts.queryTimeoutMs,
      // query_timeout only stops the client waiting; this stops the server working.
      statement_timeout: opts.queryTimeoutMs,
      idleTimeoutMillis: 30_000,
      application_name: opts.applicationName,
    })
    // Not from the pool: every pool client carries query_timeout, which would cut a
    // migration (or the wait for another replica's) after PG_QUERY_TIMEOUT_MS, and
    // leave its backend behind on the server, still waiting. Named in pg_stat_activity.
    app.decorate('pgDedicatedClient', (purpose: string) => createPgClient(opts.connectionString, opts.applicationName ? `${opts.applicationName}/${purpose}` : purpose, opts.connectTimeoutMs))
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
