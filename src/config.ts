// Configuration is read from the environment once, at boot, and passed down.
// Nothing else in src/ reads process.env: a bad value must stop the process
// before it listens (so a rollout fails fast, visibly) rather than surface later.
// The parsers are env.ts's; this file is the service's own list of settings.
import { ConfigError, fraction, host, integer, orExit, origins, read, url, type Env } from './env.js'


export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent'
const LOG_LEVELS: readonly LogLevel[] = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']

export interface Config {
  /** Names this process to others: Postgres application_name, the Redis client name, the trace service. */
  serviceName: string
  port: number
  /** Prometheus /metrics listener (metrics.ts); 0 turns metrics off. */
  metricsPort: number
  /** Listen address of both listeners. Default `::` (dual-stack, IPv4 too on Linux), 0.0.0.0 where the node has no IPv6. */
  host: string
  databaseUrl: string
  redisUrl: string
  logLevel: LogLevel
  /** After SIGTERM, keep serving (readiness 503) this long so endpoint removal propagates. */
  drainDelayMs: number
  /** One deadline for the whole shutdown sequence, from the signal. */
  shutdownTimeoutMs: number
  /** Each readiness check (Postgres, Redis) is bounded by this. */
  readyCheckTimeoutMs: number
  /** Readiness results are reused this long, so N probes cost one check. */
  readyCacheTtlMs: number
  /** Upper bound for any application query, so a blackholed database cannot pin requests. */
  pgQueryTimeoutMs: number
  /** Connections to Postgres in all: PG_POOL_MAX - 1 for the app's pool, 1 for the readiness check. */
  pgPoolMax: number
  /** Pooled connections opened before the pod reports ready, and kept open while idle. */
  pgPoolMin: number
  /** A request whose body has not fully arrived this long after it began is answered 408 (slow clients). */
  requestTimeoutMs: number
  /** A request whose headers have not fully arrived this long after the connection sent its first byte is dropped. */
  headersTimeoutMs: number
  /** Memory over MAX_RSS_BYTES/MAX_HEAP_USED_BYTES without a break this long ends in a drained exit 1 (a restart); 0: never. */
  memoryPressureExitMs: number
  /** Upper bound for any Redis command. */
  redisCommandTimeoutMs: number
  // example:begin
  /** Example API: how long an item stays in the Redis cache. */
  cacheTtlSeconds: number
  // example:end
  /** Must exceed the idle timeout of the load balancer in front (AWS ALB: 60 s). */
  keepAliveTimeoutMs: number
  maxEventLoopDelayMs: number
  maxEventLoopUtilization: number
  maxHeapUsedBytes: number
  maxRssBytes: number
  /**
   * 0 (default): the pod's own load never fails readiness; it sheds (503 + Retry-After)
   * instead. N: /ready turns 503 after N consecutive pressured samples (one a second), and
   * back after as many clear ones.
   */
  readyPressureSamples: number
  /** Largest request body accepted, in bytes (413 above it). */
  bodyLimitBytes: number
  /** Origins allowed to call the API from a browser (CORS); empty: CORS off. */
  corsOrigins: string[]
  /** Requests per client address per window (429 above it, counted in Redis); 0: no rate limit. */
  rateLimitMax: number
  rateLimitWindowMs: number
}

/** The service's own name (init rewrites it), SERVICE_NAME's default. */
export const DEFAULT_SERVICE_NAME = 'service-template'

// Postgres keeps 63 bytes of application_name, and dedicated connections append
// "/<purpose>" (at most 12 characters): beyond 50 their names would be cut, and collide.
const SERVICE_NAME_MAX = 50

/** SERVICE_NAME: what pg_stat_activity, Redis CLIENT LIST and the traces call this process. */
export function serviceName(env: Env): string {
  const raw = read(env, 'SERVICE_NAME') ?? DEFAULT_SERVICE_NAME
  // No spaces (a Redis client name refuses them), nothing a log line or query could misread.
  if (raw.length > SERVICE_NAME_MAX || !/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(raw)) {
    throw new ConfigError(`SERVICE_NAME=${raw}: expected letters, digits, '.', '_' or '-', at most ${SERVICE_NAME_MAX} characters, e.g. ${DEFAULT_SERVICE_NAME}`)
  }
  return raw
}

export function loadConfig(env: Env): Config {
  const logLevel = read(env, 'LOG_LEVEL') ?? 'info'
  if (!LOG_LEVELS.includes(logLevel as LogLevel)) {
    throw new ConfigError(`LOG_LEVEL=${logLevel}: expected one of ${LOG_LEVELS.join(', ')}`)
  }
  const config: Config = {
    serviceName: serviceName(env),
    port: integer(env, 'PORT', 8000, 0, 65535),
    metricsPort: integer(env, 'METRICS_PORT', 9464, 0, 65535),
    // `::` is dual-stack; server.ts falls back to 0.0.0.0 on a node without IPv6.
    host: host(env, 'HOST', '::'),
    databaseUrl: url(env, 'DATABASE_URL', ['postgres:', 'postgresql:']),
    redisUrl: url(env, 'REDIS_URL', ['redis:', 'rediss:']),
    logLevel: logLevel as LogLevel,
    drainDelayMs: integer(env, 'DRAIN_DELAY_MS', 5000, 0),
    shutdownTimeoutMs: integer(env, 'SHUTDOWN_TIMEOUT_MS', 15000, 1),
    readyCheckTimeoutMs: integer(env, 'READY_CHECK_TIMEOUT_MS', 1000, 1),
    readyCacheTtlMs: integer(env, 'READY_CACHE_TTL_MS', 1000, 0),
    pgQueryTimeoutMs: integer(env, 'PG_QUERY_TIMEOUT_MS', 5000, 1),
    pgPoolMax: integer(env, 'PG_POOL_MAX', 10, 2, 1000),
    pgPoolMin: integer(env, 'PG_POOL_MIN', 2, 0, 1000),
    redisCommandTimeoutMs: integer(env, 'REDIS_COMMAND_TIMEOUT_MS', 1000, 1),
    // example:begin
    cacheTtlSeconds: integer(env, 'CACHE_TTL_SECONDS', 30, 1),
    // example:end
    keepAliveTimeoutMs: integer(env, 'KEEP_ALIVE_TIMEOUT_MS', 65000, 1),
    requestTimeoutMs: integer(env, 'REQUEST_TIMEOUT_MS', 30000, 1),
    headersTimeoutMs: integer(env, 'HEADERS_TIMEOUT_MS', 10000, 1),
    memoryPressureExitMs: integer(env, 'MEMORY_PRESSURE_EXIT_MS', 60000, 0),
    maxEventLoopDelayMs: integer(env, 'MAX_EVENT_LOOP_DELAY_MS', 1000, 0),
    maxEventLoopUtilization: fraction(env, 'MAX_EVENT_LOOP_UTILIZATION', 0),
    maxHeapUsedBytes: integer(env, 'MAX_HEAP_USED_BYTES', 0, 0, Number.MAX_SAFE_INTEGER),
    maxRssBytes: integer(env, 'MAX_RSS_BYTES', 0, 0, Number.MAX_SAFE_INTEGER),
    readyPressureSamples: integer(env, 'READY_PRESSURE_SAMPLES', 0, 0, 100),
    // 100 KiB, as Express' body parser.
    bodyLimitBytes: integer(env, 'BODY_LIMIT_BYTES', 102_400, 1, 1_073_741_824),
    corsOrigins: origins(env, 'CORS_ORIGINS'),
    // Off by default: behind an ingress every request carries the proxy's address (docs/api.md).
    rateLimitMax: integer(env, 'RATE_LIMIT_MAX', 0, 0, 1_000_000_000),
    rateLimitWindowMs: integer(env, 'RATE_LIMIT_WINDOW_MS', 60_000, 1000),
  }
  if (config.metricsPort !== 0 && config.metricsPort === config.port) {
    throw new ConfigError(`METRICS_PORT=${config.metricsPort}: must differ from PORT, since metrics stay off the public port (0 turns metrics off)`)
  }
  if (config.pgPoolMin > config.pgPoolMax - 1) {
    throw new ConfigError(`PG_POOL_MIN=${config.pgPoolMin}: must be below PG_POOL_MAX=${config.pgPoolMax}, since one of PG_POOL_MAX is the readiness check's own connection`)
  }
  if (config.headersTimeoutMs > config.requestTimeoutMs) {
    throw new ConfigError(`HEADERS_TIMEOUT_MS=${config.headersTimeoutMs}: must not exceed REQUEST_TIMEOUT_MS=${config.requestTimeoutMs}, since the headers are part of the request`)
  }
  if (config.drainDelayMs >= config.shutdownTimeoutMs) {
    throw new ConfigError(
      `SHUTDOWN_TIMEOUT_MS=${config.shutdownTimeoutMs}: must be greater than DRAIN_DELAY_MS=${config.drainDelayMs}, since the deadline covers the drain delay`,
    )
  }
  return config
}

/**
 * loadConfig for an entry point: a bad value ends the process with one clear line and
 * exit code 78 (EX_CONFIG), before any logger exists: the pod goes to CrashLoopBackOff
 * with the reason in `kubectl logs`.
 */
export function loadConfigOrExit(env: Env): Config {
  return orExit(() => loadConfig(env))
}
