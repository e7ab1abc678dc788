import { describe, expect, it } from 'vitest'
import { loadConfig } from '../../src/config.js'
import { ConfigError } from '../../src/env.js'

const base = { DATABASE_URL: 'postgres://app:pw@db:5432/app', REDIS_URL: 'redis://cache:6379' }

describe('loadConfig', () => {
  it('applies documented defaults, every one of them', () => {
    expect(loadConfig(base)).toEqual({
      serviceName: 'service-template',
      port: 8000,
      metricsPort: 9464,
      host: '::',
      databaseUrl: base.DATABASE_URL,
      redisUrl: base.REDIS_URL,
      logLevel: 'info',
      drainDelayMs: 5000,
      shutdownTimeoutMs: 15000,
      readyCheckTimeoutMs: 1000,
      readyCacheTtlMs: 1000,
      pgQueryTimeoutMs: 5000,
      pgPoolMax: 10,
      pgPoolMin: 2,
      redisCommandTimeoutMs: 1000,
      // example:begin
      cacheTtlSeconds: 30,
      // example:end
      keepAliveTimeoutMs: 65000,
      requestTimeoutMs: 30000,
      headersTimeoutMs: 10000,
      memoryPressureExitMs: 60000,
      maxEventLoopDelayMs: 1000,
      maxEventLoopUtilization: 0,
      maxHeapUsedBytes: 0,
      maxRssBytes: 0,
      readyPressureSamples: 0,
      bodyLimitBytes: 102_400,
      corsOrigins: [],
      rateLimitMax: 0,
      rateLimitWindowMs: 60_000,
    })
  })

  it('reads the API settings: body limit, CORS origins, rate limit', () => {
    const c = loadConfig({ ...base, BODY_LIMIT_BYTES: '2048', CORS_ORIGINS: 'https://app.example.com, http://localhost:3000', RATE_LIMIT_MAX: '100', RATE_LIMIT_WINDOW_MS: '1000' })
    expect(c).toMatchObject({ bodyLimitBytes: 2048, corsOrigins: ['https://app.example.com', 'http://localhost:3000'], rateLimitMax: 100, rateLimitWindowMs: 1000 })
  })

  it('SERVICE_NAME: a name Postgres, Redis and the traces all accept, or exit 78 naming it', () => {
    expect(loadConfig({ ...base, SERVICE_NAME: 'orders' }).serviceName).toBe('orders')
    expect(loadConfig({ ...base, SERVICE_NAME: 'orders.v2_eu-1' }).serviceName).toBe('orders.v2_eu-1')
    for (const bad of ['my service', '-orders', 'a'.repeat(51), 'orders/x']) {
      expect(() => loadConfig({ ...base, SERVICE_NAME: bad })).toThrow(new RegExp(`^SERVICE_NAME=.*: expected letters, digits`))
    }
  })

  it('reads every variable', () => {
    const c = loadConfig({ ...base, PORT: '9000', HOST: '127.0.0.1', LOG_LEVEL: 'debug', DRAIN_DELAY_MS: '0', SHUTDOWN_TIMEOUT_MS: '2500', MAX_EVENT_LOOP_UTILIZATION: '0.5' })
    expect(c).toMatchObject({ port: 9000, host: '127.0.0.1', logLevel: 'debug', drainDelayMs: 0, shutdownTimeoutMs: 2500, maxEventLoopUtilization: 0.5 })
  })

  it.each([
    [{ PORT: 'abc' }, /^PORT=abc: expected an integer from 0 to 65535$/],
    [{ PORT: '70000' }, /^PORT=70000: expected an integer/],
    [{ DRAIN_DELAY_MS: '10s' }, /^DRAIN_DELAY_MS=10s: expected an integer/],
    [{ SHUTDOWN_TIMEOUT_MS: '-1' }, /^SHUTDOWN_TIMEOUT_MS=-1: expected an integer/],
    [{ READY_CHECK_TIMEOUT_MS: '1e3' }, /^READY_CHECK_TIMEOUT_MS=1e3/],
    [{ LOG_LEVEL: 'verbose' }, /^LOG_LEVEL=verbose: expected one of fatal, error/],
    [{ MAX_EVENT_LOOP_UTILIZATION: '2' }, /^MAX_EVENT_LOOP_UTILIZATION=2: expected a number from 0 to 1$/],
    [{ DATABASE_URL: undefined }, /^DATABASE_URL is required/],
    [{ REDIS_URL: '' }, /^REDIS_URL is required/],
    [{ DATABASE_URL: 'postgres:///app' }, /^DATABASE_URL has no host/],
    [{ DATABASE_URL: 'mysql://db/app' }, /^DATABASE_URL has protocol "mysql:"/],
    [{ REDIS_URL: 'not a url' }, /^REDIS_URL is not a valid URL/],
    [{ SHUTDOWN_TIMEOUT_MS: '3000000000' }, /^SHUTDOWN_TIMEOUT_MS=3000000000: expected an integer from 1 to 2147483647$/],
    [{ HOST: 'my host' }, /^HOST=my host: expected an IP address or host name/],
    [{ MAX_EVENT_LOOP_UTILIZATION: '0.5.1' }, /^MAX_EVENT_LOOP_UTILIZATION=0.5.1/],
    [{ PG_POOL_MAX: '4', PG_POOL_MIN: '4' }, /^PG_POOL_MIN=4: must be below PG_POOL_MAX=4/],
    [{ PG_POOL_MAX: '1' }, /^PG_POOL_MAX=1: expected an integer from 2 to 1000$/],
    [{ HEADERS_TIMEOUT_MS: '40000' }, /^HEADERS_TIMEOUT_MS=40000: must not exceed REQUEST_TIMEOUT_MS=30000/],
    [{ REQUEST_TIMEOUT_MS: '0' }, /^REQUEST_TIMEOUT_MS=0: expected an integer from 1/],
    [{ MEMORY_PRESSURE_EXIT_MS: 'soon' }, /^MEMORY_PRESSURE_EXIT_MS=soon: expected an integer/],
    [{ BODY_LIMIT_BYTES: '0' }, /^BODY_LIMIT_BYTES=0: expected an integer from 1 to 1073741824$/],
    [{ BODY_LIMIT_BYTES: '1mb' }, /^BODY_LIMIT_BYTES=1mb: expected an integer/],
    [{ RATE_LIMIT_MAX: '-5' }, /^RATE_LIMIT_MAX=-5: expected an integer/],
    [{ RATE_LIMIT_WINDOW_MS: '10' }, /^RATE_LIMIT_WINDOW_MS=10: expected an integer from 1000/],
    [{ CORS_ORIGINS: '*' }, /^CORS_ORIGINS: "\*" is not an origin/],
    [{ CORS_ORIGINS: 'https://app.example.com/' }, /^CORS_ORIGINS: "https:\/\/app.example.com\/" is not an origin/],
    [{ CORS_ORIGINS: 'https://a.example.com,ftp://b.example.com' }, /^CORS_ORIGINS: "ftp:\/\/b.example.com" is not an origin/],
    [{ DRAIN_DELAY_MS: '5000', SHUTDOWN_TIMEOUT_MS: '5000' }, /^SHUTDOWN_TIMEOUT_MS=5000: must be greater than DRAIN_DELAY_MS=5000/],
  ])('rejects %o with a message naming the variable', (override, message) => {
    expect(() => loadConfig({ ...base, ...override })).toThrow(ConfigError)
    expect(() => loadConfig({ ...base, ...override })).toThrow(message)
  })

  it('accepts the forms Helm renders: exponent floats, IPv6 hosts', () => {
    expect(loadConfig({ ...base, MAX_EVENT_LOOP_UTILIZATION: '1e-05', HOST: '::' })).toMatchObject({ maxEventLoopUtilization: 0.00001, host: '::' })
    expect(loadConfig({ ...base, MAX_EVENT_LOOP_UTILIZATION: '.5' }).maxEventLoopUtilization).toBe(0.5)
  })

  it('never echoes a URL, which may hold a password', () => {
    for (const DATABASE_URL of ['postgres://u:hunter2@/app', 'http://u:hunter2@db/app', 'postgres://u:hunter2@db:port/app']) {
      expect(() => loadConfig({ ...base, DATABASE_URL })).toThrow(/DATABASE_URL/)
      expect(() => loadConfig({ ...base, DATABASE_URL })).not.toThrow(/hunter2/)
    }
  })
})
