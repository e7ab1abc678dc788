// Bad configuration: the real server exits non-zero at once, with one line naming the
// variable (what `kubectl logs` of a CrashLoopBackOff pod will show).
import { describe, expect, it } from 'vitest'
import { startServer } from '../helpers/server.js'

const good = { DATABASE_URL: 'postgres://app:hunter2@127.0.0.1:1/app', REDIS_URL: 'redis://127.0.0.1:1' }

describe('bad configuration', () => {
  it.each([
    [{ PORT: 'abc' }, 'invalid configuration: PORT=abc: expected an integer from 0 to 65535'],
    [{ DRAIN_DELAY_MS: '10s' }, 'invalid configuration: DRAIN_DELAY_MS=10s: expected an integer'],
    [{ DATABASE_URL: 'postgres://app:hunter2@/app' }, 'invalid configuration: DATABASE_URL is not a valid URL'],
    [{ REDIS_URL: '' }, 'invalid configuration: REDIS_URL is required'],
    [{ LOG_LEVEL: 'loud' }, 'invalid configuration: LOG_LEVEL=loud'],
    [{ BODY_LIMIT_BYTES: '1mb' }, 'invalid configuration: BODY_LIMIT_BYTES=1mb: expected an integer'],
    [{ CORS_ORIGINS: '*' }, 'invalid configuration: CORS_ORIGINS: "*" is not an origin'],
    [{ SERVICE_NAME: 'my orders' }, 'invalid configuration: SERVICE_NAME=my orders: expected letters, digits'],
    // The tracing preload reads it too (the trace service's default name), before config.ts does.
    [{ SERVICE_NAME: 'my orders', OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:4318' }, 'invalid configuration: SERVICE_NAME=my orders'],
  ])('%o exits 78 naming the variable', async (override, message) => {
    const server = await startServer({ ...good, ...override }, { waitFor: 'none' })
    const { code } = await server.exited
    expect(code).toBe(78)
    const lines = server.output().trim().split('\n')
    expect(lines).toHaveLength(1)
    expect(lines[0]).toContain(message)
    expect(server.output()).not.toContain('hunter2')
  })
})
