// `helm lint --strict` over every shipped values file, and bad values refused before
// anything reaches a cluster: by values.schema.json or by a `fail` in the templates.
import { describe, expect, it } from 'vitest'
import { readFileSync } from 'node:fs'
import { parse } from 'yaml'
import { chartDir, defaultValues, expectRenderFails, expectRenders, helm, minikubeValues, renderRaw } from './helm.js'

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
  ['a percentage for maxRssBytes', { 'config.maxRssBytes': '90%' }, /config\/maxRssBytes.*'oneOf' failed[\s\S]*value must be 'auto'/],
  ['a zero maxRssLimitFraction', { 'config.maxRssLimitFraction': 0 }, /config\/maxRssLimitFraction.*exclusiveMinimum/],
  ['METRICS_PORT in extraEnv', { extraEnv: { METRICS_PORT: '9100' } }, /invalid propertyName 'METRICS_PORT'/],
  ['a CORS origin with a path', { 'config.corsOrigins': ['https://app.example.com/'] }, /config\/corsOrigins\/0.*does not match pattern/],
  ['a wildcard CORS origin', { 'config.corsOrigins': ['*'] }, /config\/corsOrigins\/0.*does not match pattern/],
  ['RATE_LIMIT_MAX in extraEnv', { extraEnv: { RATE_LIMIT_MAX: '100' } }, /invalid propertyName 'RATE_LIMIT_MAX'/],
  ['a rate limit window below a second', { 'config.rateLimitWindowMs': 10 }, /config\/rateLimitWindowMs.*minimum: got 10, want 1,?000/],
  ['a metrics port out of range', { 'metrics.port': 0 }, /metrics\/port.*minimum: got 0, want 1/],
  ['an unknown key under metrics', { metrics: { path: '/m' } }, /additional properties 'path' not allowed/],
  ['a scrape interval that is no Prometheus duration', { 'metrics.serviceMonitor.interval': '30 seconds' }, /metrics\/serviceMonitor\/interval.*does not match pattern/],
  ['an invalid label value for the ServiceMonitor', { 'metrics.serviceMonitor.labels': { release: 'kube prometheus' } }, /metrics\/serviceMonitor\/labels\/release/],
  // (helm's validator reports a wrong location for propertyNames errors, so only the name is matched)
  ['an invalid label key in the scraper selector', { 'metrics.networkPolicy.podSelector': { 'bad key': 'x' } }, /invalid propertyName 'bad key'/],
  ['a NodeLocal DNSCache address without a prefix length', { 'networkPolicy.dns.nodeLocalDNSCacheCIDRs': ['169.254.20.10'] }, /nodeLocalDNSCacheCIDRs\/0.*does not match pattern/],
  ['a service name with a space (no Redis client name)', { 'config.serviceName': 'my orders' }, /config\/serviceName.*does not match pattern/],
  ['SERVICE_NAME in extraEnv', { extraEnv: { SERVICE_NAME: 'x' } }, /invalid propertyName 'SERVICE_NAME'/],
  ['a negative Postgres max_connections', { 'postgres.maxConnections': -1 }, /postgres\/maxConnections.*minimum: got -1, want 0/],
]

describe.concurrent('values.schema.json rejects', () => {
  it.each(schemaRejects)('%s', async (_name, set, message) => {
    const result = await renderRaw({ set })
    expect(result.code).not.toBe(0)
    expect(result.stderr).toContain("values don't meet the specifications of the schema")
    expect(result.stderr).toMatch(message)
  })
})

// Each case: values (--set-json) and fragments of the expected error message.
const renderFailures: [string, Record<string, unknown>, ...(string | RegExp)[]][] = [
  [
    'a grace period shorter than preStop + shutdown timeout + margin',
    { terminationGracePeriodSeconds: 34 },
    'termination overruns the grace period: drainSeconds (10) + closeTimeoutSeconds (20) + safetyMarginSeconds (5) = 35s > terminationGracePeriodSeconds (34)',
    'raise terminationGracePeriodSeconds to at least 35',
  ],
  ['a grace overrun in drainMode=app too', { 'termination.drainMode': 'app', 'termination.drainSeconds': 30 }, /termination overruns the grace period: drainSeconds \(30\)/],
  [
    'a readiness timeout equal to READY_CHECK_TIMEOUT_MS',
    { 'readinessProbe.timeoutSeconds': 1 },
    'readinessProbe.timeoutSeconds (1s = 1000ms) must be greater than config.readyCheckTimeoutMs (READY_CHECK_TIMEOUT_MS=1000)',
  ],
  [
    'a readiness timeout below READY_CHECK_TIMEOUT_MS',
    { 'readinessProbe.timeoutSeconds': 2, 'config.readyCheckTimeoutMs': 2500 },
    'readinessProbe.timeoutSeconds (2s = 2000ms) must be greater than config.readyCheckTimeoutMs (READY_CHECK_TIMEOUT_MS=2500)',
  ],
  [
    'a progress deadline shorter than the startup probe budget',
    { 'startupProbe.failureThreshold': 300 },
    'progressDeadlineSeconds (600) must be greater than the startup probe budget (startupProbe.failureThreshold x periodSeconds = 600s) + minReadySeconds (5)',
  ],
  [
    'a liveness grace no longer than the preStop sleep (a liveness restart would SIGKILL before SIGTERM)',
    { 'livenessProbe.terminationGracePeriodSeconds': 3 },
    'livenessProbe.terminationGracePeriodSeconds (3) must be at least the preStop sleep (8s, from termination)',
  ],
  [
    'a migration expected to outlast the startup probe, without the pre-upgrade Job',
    { 'migrations.expectedSeconds': 300 },
    "migrations.expectedSeconds (300) exceeds the startup probe's budget (startupProbe.failureThreshold x periodSeconds = 120s)",
  ],
  ['a pool minimum not below the pool maximum', { 'config.pgPoolMin': 10 }, 'config.pgPoolMin (10) must be below config.pgPoolMax (10)'],
  [
    'a NetworkPolicy that closes egress to every dependency',
    { 'networkPolicy.enabled': true, 'networkPolicy.allowExternalEgress': false },
    'networkPolicy: allowExternalEgress is false and no egress rule reaches Postgres or Redis',
  ],
  [
    'an empty DNS selector, which would open port 53 to every pod',
    {
      'networkPolicy.enabled': true,
      'networkPolicy.allowExternalEgress': false,
      'networkPolicy.extraEgress': [{ ports: [{ port: 5432 }] }],
      // null deletes the only default key, leaving {}.
      'networkPolicy.dns.podSelector.k8s-app': null,
    },
    'networkPolicy.dns.namespaceSelector and networkPolicy.dns.podSelector must not be empty',
  ],
  [
    'an HPA whose maximum is below its minimum',
    { 'autoscaling.enabled': true, 'autoscaling.minReplicas': 4, 'autoscaling.maxReplicas': 3 },
    'autoscaling.maxReplicas (3) must be >= autoscaling.minReplicas (4)',
  ],
  ['a ServiceMonitor without metrics', { 'metrics.enabled': false, 'metrics.serviceMonitor.enabled': true }, 'metrics.serviceMonitor.enabled needs metrics.enabled'],
  ['a metrics port equal to the public port', { 'metrics.port': 8000 }, 'metrics.port (8000) must differ from containerPort (8000)'],
  [
    'a scrape timeout longer than the scrape interval',
    { 'metrics.serviceMonitor.enabled': true, 'metrics.serviceMonitor.interval': '1m', 'metrics.serviceMonitor.scrapeTimeout': '1m500ms' },
    'metrics.serviceMonitor.scrapeTimeout (1m500ms) must not exceed metrics.serviceMonitor.interval (1m)',
  ],
]

describe.concurrent('the render fails with a clear message on', () => {
  it.each(renderFailures)('%s', async (_name, set, ...messages) => {
    await expectRenderFails(set, ...messages)
  })

  it('accepts a long migration when it runs in the pre-upgrade Job (control case)', async () => {
    await expectRenders({ 'migrations.expectedSeconds': 300, 'migrations.job.enabled': true })
  })

  it('accepts a scrape timeout equal to the interval (control case)', async () => {
    await expectRenders({ 'metrics.serviceMonitor.enabled': true, 'metrics.serviceMonitor.interval': '1m', 'metrics.serviceMonitor.scrapeTimeout': '60s' })
  })
})
