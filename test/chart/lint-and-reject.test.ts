// `helm lint --strict` over every shipped values file, and bad values refused before
// anything reaches a cluster: by values.schema.json or by a `fail` in the templates.
import { describe, expect, it } from 'vitest'
import { readFileSync } from 'node:fs'
import { parse } from 'yaml'
import { chartDir, defaultValues, helm, minikubeValues, renderRaw } from './helm.js'

describe('values.yaml', () => {
  it('documents every key with a ## @param line', () => {
    const source = readFileSync(defaultValues, 'utf8')
    const documented = new Set([...source.matchAll(/^\s*## @param (\S+) \S/gm)].map((m) => m[1]))
    const undocumented: string[] = []
    const walk = (value: unknown, path: string): void => {
      if (documented.has(path)) return
      if (value !== null && typeof value === 'object' && !Array.isArray(value) && Object.keys(value).length > 0) {
        for (const [key, child] of Object.entries(value)) walk(child, path ? `${path}.${key}` : key)
      } else {
        undocumented.push(path)
      }
    }
    walk(parse(source), '')
    expect(undocumented).toEqual([])
    expect(documented.size).toBeGreaterThan(50)
  })
})

describe.concurrent('helm lint --strict', () => {
  it.each([
    ['values.yaml', defaultValues],
    ['values-minikube.yaml', minikubeValues],
  ])('passes with %s', async (_name, file) => {
    const result = await helm(['lint', '--strict', chartDir, '--values', file])
    expect(result.stderr + result.stdout).toContain('0 chart(s) failed')
    expect(result.code, result.stdout + result.stderr).toBe(0)
  })
})

// Each case: values (--set-json) and a fragment of the expected error message.
const schemaRejects: [string, Record<string, unknown>, RegExp][] = [
  ['an unknown top-level key', { replicas: 3 }, /additional properties 'replicas' not allowed/],
  ['an unknown nested key (typo)', { readinessProbe: { timeoutSecond: 3 } }, /additional properties 'timeoutSecond' not allowed/],
  ['a string where an integer is required', { 'readinessProbe.periodSeconds': '5s' }, /readinessProbe\/periodSeconds.*got string, want integer/],
  ['a duration string for an *Ms value', { 'config.readyCheckTimeoutMs': '10s' }, /config\/readyCheckTimeoutMs.*got string, want integer/],
  ['a negative number', { 'termination.drainSeconds': -1 }, /termination\/drainSeconds.*minimum: got -1, want 0/],
  ['a zero probe period', { 'livenessProbe.periodSeconds': 0 }, /livenessProbe\/periodSeconds.*minimum: got 0, want 1/],
  ['successThreshold != 1 on the liveness probe', { 'livenessProbe.successThreshold': 2 }, /livenessProbe\/successThreshold/],
  ['an unknown log level', { 'config.logLevel': 'verbose' }, /config\/logLevel/],
  ['an event-loop utilization above 1', { 'config.maxEventLoopUtilization': 1.5 }, /maximum: got 1.5, want 1/],
  ['an unknown drain mode', { 'termination.drainMode': 'sigterm' }, /termination\/drainMode/],
  ['a bad pull policy', { 'image.pullPolicy': 'Sometimes' }, /image\/pullPolicy/],
  ['a chart-owned env var in extraEnv', { extraEnv: { SHUTDOWN_TIMEOUT_MS: '1' } }, /invalid propertyName 'SHUTDOWN_TIMEOUT_MS'/],
  ['a non-string extraEnv value', { extraEnv: { FEATURE: 1 } }, /extraEnv\/FEATURE.*got number, want string/],
  ['a malformed percentage', { 'updateStrategy.maxSurge': '25 percent' }, /updateStrategy\/maxSurge/],
  ['a port out of range', { containerPort: 70000 }, /containerPort.*maximum: got 70,?000, want 65,?535/],
  ['a database URL of the wrong scheme', { 'secret.databaseUrl': 'mysql://x' }, /secret\/databaseUrl/],
]

describe.concurrent('values.schema.json rejects', () => {
  it.each(schemaRejects)('%s', async (_name, set, message) => {
    const result = await renderRaw({ set })
    expect(result.code).not.toBe(0)
    expect(result.stderr).toContain("values don't meet the specifications of the schema")
    expect(result.stderr).toMatch(message)
  })
})

describe.concurrent('the render fails with a clear message on', () => {
  it('a grace period shorter than preStop + shutdown timeout + margin', async () => {
    const result = await renderRaw({ set: { terminationGracePeriodSeconds: 34 } })
    expect(result.code).not.toBe(0)
    expect(result.stderr).toContain(
      'termination overruns the grace period: drainSeconds (10) + closeTimeoutSeconds (20) + safetyMarginSeconds (5) = 35s > terminationGracePeriodSeconds (34)',
    )
    expect(result.stderr).toContain('raise terminationGracePeriodSeconds to at least 35')
  })

  it('a grace overrun in drainMode=app too', async () => {
    const result = await renderRaw({ set: { 'termination.drainMode': 'app', 'termination.drainSeconds': 30 } })
    expect(result.code).not.toBe(0)
    expect(result.stderr).toMatch(/termination overruns the grace period: drainSeconds \(30\)/)
  })

  it('a readiness timeout not above READY_CHECK_TIMEOUT_MS', async () => {
    const [equal, below] = await Promise.all([
      renderRaw({ set: { 'readinessProbe.timeoutSeconds': 1 } }),
      renderRaw({ set: { 'readinessProbe.timeoutSeconds': 2, 'config.readyCheckTimeoutMs': 2500 } }),
    ])
    expect(equal.code).not.toBe(0)
    expect(equal.stderr).toContain('readinessProbe.timeoutSeconds (1s = 1000ms) must be greater than config.readyCheckTimeoutMs (READY_CHECK_TIMEOUT_MS=1000)')
    expect(below.code).not.toBe(0)
    expect(below.stderr).toContain('readinessProbe.timeoutSeconds (2s = 2000ms) must be greater than config.readyCheckTimeoutMs (READY_CHECK_TIMEOUT_MS=2500)')
  })

  it('a progress deadline shorter than the startup probe budget', async () => {
    const result = await renderRaw({ set: { 'startupProbe.failureThreshold': 300 } })
    expect(result.code).not.toBe(0)
    expect(result.stderr).toContain('progressDeadlineSeconds (600) must be greater than the startup probe budget (startupProbe.failureThreshold x periodSeconds = 600s) + minReadySeconds (5)')
  })

  it('a NetworkPolicy that closes egress to every dependency', async () => {
    const result = await renderRaw({ set: { 'networkPolicy.enabled': true, 'networkPolicy.allowExternalEgress': false } })
    expect(result.code).not.toBe(0)
    expect(result.stderr).toContain('networkPolicy: allowExternalEgress is false and no egress rule reaches Postgres or Redis')
  })

  it('an HPA whose maximum is below its minimum', async () => {
    const result = await renderRaw({ set: { 'autoscaling.enabled': true, 'autoscaling.minReplicas': 4, 'autoscaling.maxReplicas': 3 } })
    expect(result.code).not.toBe(0)
    expect(result.stderr).toContain('autoscaling.maxReplicas (3) must be >= autoscaling.minReplicas (4)')
  })
})
