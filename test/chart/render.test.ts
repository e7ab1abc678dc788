// `helm template` output, parsed and asserted: what the chart promises in values.yaml
// must be what Kubernetes receives.
import { beforeEach, describe, expect, it } from 'vitest'
import { parse } from 'yaml'
import { readFileSync } from 'node:fs'
import { loadConfig } from '../../src/config.js'
import { chartDir, chartVersion, defaultValues, everythingEnabled, getOne, helm, kinds, minikubeValues, namespace, release, render, renderRaw, type K8sObject } from './helm.js'
import { app, appDeployment, lazy, type ConfigMap, type Container, type Deployment, type PodSpec, type Probe, type Secret } from './objects.js'

const fullname = `${release}-service-template`
const b64 = (s: string) => Buffer.from(s).toString('base64')

const chartValues = parse(readFileSync(defaultValues, 'utf8')) as {
  terminationGracePeriodSeconds: number
  termination: { drainSeconds: number; appDrainSeconds: number; closeTimeoutSeconds: number; safetyMarginSeconds: number }
}

describe('default values', () => {
  let objects: K8sObject[]
  let deployment: Deployment
  let container: Container
  // Rendered once, lazily inside each test rather than in beforeAll: if helm is missing,
  // every test fails with the reason instead of being reported as skipped.
  const rendered = lazy(() => render())
  beforeEach(async () => {
    objects = await rendered()
    deployment = appDeployment(objects)
    container = app(deployment)
  })

  it('renders the production set of objects, nothing optional', () => {
    // Two Services: the public one and the headless metrics one.
    expect(kinds(objects)).toEqual(['ConfigMap', 'Deployment', 'Pod', 'PodDisruptionBudget', 'Secret', 'Service', 'Service', 'ServiceAccount'])
    // The Pod is the `helm test` hook, not a workload.
    expect(getOne(objects, 'Pod').metadata.annotations?.['helm.sh/hook']).toBe('test')
  })

  it('labels every object with app.kubernetes.io/* and selects on stable labels only', () => {
    for (const o of objects) {
      expect(o.metadata.labels, `${o.kind}/${o.metadata.name}`).toMatchObject({
        'app.kubernetes.io/name': 'service-template',
        'app.kubernetes.io/instance': release,
        'app.kubernetes.io/managed-by': 'Helm',
        'app.kubernetes.io/version': '0.1.0',
        'helm.sh/chart': `service-template-${chartVersion}`,
      })
    }
    expect(deployment.spec.selector.matchLabels).toEqual({
      'app.kubernetes.io/name': 'service-template',
      'app.kubernetes.io/instance': release,
      'app.kubernetes.io/component': 'server',
    })
    const service = getOne<K8sObject & { spec: { selector: Record<string, string> } }>(objects, 'Service', fullname)
    expect(service.spec.selector).toEqual(deployment.spec.selector.matchLabels)
    // The helm test pod must never receive Service traffic.
    expect(getOne(objects, 'Pod').metadata.labels?.['app.kubernetes.io/component']).toBe('test')
  })

  it('probes /startup, /ready and /health on the named http port with the documented numbers', () => {
    expect(container.ports).toEqual([
      { name: 'http', containerPort: 8000, protocol: 'TCP' },
      { name: 'metrics', containerPort: 9464, protocol: 'TCP' },
    ])
    const probe = (path: string, periodSeconds: number, timeoutSeconds: number, failureThreshold: number): Probe => ({
      httpGet: { path, port: 'http' },
      initialDelaySeconds: 0,
      periodSeconds,
      timeoutSeconds,
      failureThreshold,
      successThreshold: 1,
    })
    expect(container.startupProbe).toEqual(probe('/startup', 2, 2, 60))
    expect(container.readinessProbe).toEqual(probe('/ready', 5, 3, 2))
    // A stuck process will not drain: liveness restarts it after 10 s, not the pod's 40 s grace.
    expect(container.livenessProbe).toEqual({ ...probe('/health', 10, 5, 6), terminationGracePeriodSeconds: 10 })
  })

  it('keeps the probe relationships the values.yaml comments promise', () => {
    const config = getOne<ConfigMap>(objects, 'ConfigMap')
    const startup = container.startupProbe!
    const readiness = container.readinessProbe!
    const liveness = container.livenessProbe!
    // Startup budget covers a slow first start (>= 2 minutes).
    expect(startup.failureThreshold * startup.periodSeconds).toBeGreaterThanOrEqual(120)
    // Readiness timeout above the app's own dependency-check bound.
    expect(readiness.timeoutSeconds * 1000).toBeGreaterThan(Number(config.data.READY_CHECK_TIMEOUT_MS))
    // Liveness tolerates far more than readiness before acting.
    expect(liveness.failureThreshold * liveness.periodSeconds).toBeGreaterThanOrEqual(
      4 * readiness.failureThreshold * readiness.periodSeconds,
    )
    expect(liveness.timeoutSeconds).toBeGreaterThan(readiness.timeoutSeconds)
  })

  it('sleeps in preStop with the native sleep action on Kubernetes >= 1.30', () => {
    // drainSeconds 10, of which the app drains the last appDrainSeconds (2) itself.
    expect(container.lifecycle).toEqual({ preStop: { sleep: { seconds: 8 } } })
  })

  it('derives DRAIN_DELAY_MS and SHUTDOWN_TIMEOUT_MS from the termination values (preStop mode)', () => {
    const config = getOne<ConfigMap>(objects, 'ConfigMap')
    const { drainSeconds, appDrainSeconds, closeTimeoutSeconds, safetyMarginSeconds } = chartValues.termination
    const grace = deployment.spec.template.spec.terminationGracePeriodSeconds
    expect(grace).toBe(chartValues.terminationGracePeriodSeconds)
    expect(appDrainSeconds).toBeGreaterThan(0)
    // The drain is split, not doubled: the kubelet sleeps the first part, the app drains the
    // rest itself (answering `Connection: close`, so keep-alive clients are not reset at SIGTERM).
    const preStop = container.lifecycle?.preStop?.sleep?.seconds ?? NaN
    expect(preStop).toBe(drainSeconds - appDrainSeconds)
    expect(config.data.DRAIN_DELAY_MS).toBe(String(appDrainSeconds * 1000))
    expect(preStop + Number(config.data.DRAIN_DELAY_MS) / 1000).toBe(drainSeconds)
    // The app's deadline counts from SIGTERM and includes its own drain.
    expect(config.data.SHUTDOWN_TIMEOUT_MS).toBe(String((appDrainSeconds + closeTimeoutSeconds) * 1000))
    // preStop + app deadline + margin fit before SIGKILL.
    expect(preStop + Number(config.data.SHUTDOWN_TIMEOUT_MS) / 1000 + safetyMarginSeconds).toBeLessThanOrEqual(grace)
  })

  it('passes the non-secret env through the ConfigMap as plain digit strings', () => {
    const config = getOne<ConfigMap>(objects, 'ConfigMap')
    expect(config.data).toEqual({
      SERVICE_NAME: 'service-template',
      PORT: '8000',
      // No HOST: the app's default, dual-stack `::` (config.host overrides it).
      LOG_LEVEL: 'info',
      DRAIN_DELAY_MS: '2000',
      SHUTDOWN_TIMEOUT_MS: '22000',
      READY_CHECK_TIMEOUT_MS: '1000',
      READY_CACHE_TTL_MS: '1000',
      // example:begin
      CACHE_TTL_SECONDS: '30',
      // example:end
      PG_QUERY_TIMEOUT_MS: '5000',
      REDIS_COMMAND_TIMEOUT_MS: '1000',
      PG_POOL_MAX: '10',
      PG_POOL_MIN: '2',
      KEEP_ALIVE_TIMEOUT_MS: '65000',
      REQUEST_TIMEOUT_MS: '30000',
      HEADERS_TIMEOUT_MS: '10000',
      MEMORY_PRESSURE_EXIT_MS: '60000',
      READY_PRESSURE_SAMPLES: '0',
      MAX_EVENT_LOOP_DELAY_MS: '1000',
      MAX_EVENT_LOOP_UTILIZATION: '0',
      MAX_HEAP_USED_BYTES: '0',
      // 0.9 x the 256Mi memory limit.
      MAX_RSS_BYTES: '241591910',
      METRICS_PORT: '9464',
      BODY_LIMIT_BYTES: '102400',
      CORS_ORIGINS: '',
      RATE_LIMIT_MAX: '0',
      RATE_LIMIT_WINDOW_MS: '60000',
    })
    expect(container.envFrom).toEqual([{ configMapRef: { name: fullname } }])
  })

  it('reads DATABASE_URL and REDIS_URL from the chart Secret', () => {
    expect(container.env).toEqual([
      { name: 'DATABASE_URL', valueFrom: { secretKeyRef: { name: fullname, key: 'DATABASE_URL' } } },
      { name: 'REDIS_URL', valueFrom: { secretKeyRef: { name: fullname, key: 'REDIS_URL' } } },
    ])
    // No URL configured: keys are left out so the pod reports the missing key.
    expect(getOne<Secret>(objects, 'Secret').data).toEqual({})
  })

  it('rolls one extra pod at a time and never drops below the desired count', () => {
    expect(deployment.spec.replicas).toBe(2)
    expect(deployment.spec.strategy).toEqual({ type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 0, maxSurge: 1 } })
  })

  it('hardens the pod and container security contexts', () => {
    expect(deployment.spec.template.spec.securityContext).toMatchObject({
      runAsNonRoot: true,
      runAsUser: 1000,
      seccompProfile: { type: 'RuntimeDefault' },
    })
    expect(container.securityContext).toMatchObject({
      runAsNonRoot: true,
      runAsUser: 1000,
      readOnlyRootFilesystem: true,
      allowPrivilegeEscalation: false,
      privileged: false,
      capabilities: { drop: ['ALL'] },
      seccompProfile: { type: 'RuntimeDefault' },
    })
    expect(container.volumeMounts).toEqual([{ name: 'tmp', mountPath: '/tmp' }])
    expect(deployment.spec.template.spec.volumes).toEqual([{ name: 'tmp', emptyDir: { sizeLimit: '64Mi' } }])
  })

  it('does not mount a service account token', () => {
    expect(getOne<K8sObject & { automountServiceAccountToken: boolean }>(objects, 'ServiceAccount').automountServiceAccountToken).toBe(false)
    expect(deployment.spec.template.spec.automountServiceAccountToken).toBe(false)
    expect(deployment.spec.template.spec.serviceAccountName).toBe(fullname)
  })

  it('sets requests and a memory limit, no CPU limit', () => {
    expect(container.resources).toEqual({ requests: { cpu: '100m', memory: '128Mi' }, limits: { memory: '256Mi' } })
  })

  it('annotates the pod template with checksums of the ConfigMap and the Secret', () => {
    const annotations = deployment.spec.template.metadata.annotations
    expect(annotations['checksum/config']).toMatch(/^[a-f0-9]{64}$/)
    expect(annotations['checksum/secret']).toMatch(/^[a-f0-9]{64}$/)
  })

  it('runs the helm test with the app image and node fetch against /ready through the Service', () => {
    const pod = getOne<K8sObject & { spec: PodSpec & { restartPolicy: string } }>(objects, 'Pod')
    const test = pod.spec.containers[0]!
    expect(test.image).toBe('service-template:0.1.0')
    expect(test.image).toBe(app(deployment).image)
    expect(test.command?.slice(0, 2)).toEqual(['node', '-e'])
    expect(test.command?.[2]).toContain('fetch(')
    expect(test.env).toContainEqual({ name: 'TARGET_URL', value: `http://${fullname}:80/ready` })
    expect(pod.spec.restartPolicy).toBe('Never')
    expect(test.securityContext).toMatchObject({ readOnlyRootFilesystem: true, allowPrivilegeEscalation: false })
  })

  it('has a PodDisruptionBudget on the app pods and no HPA', () => {
    const pdb = getOne<K8sObject & { spec: Record<string, unknown> }>(objects, 'PodDisruptionBudget')
    expect(pdb.spec).toMatchObject({ maxUnavailable: 1, selector: { matchLabels: deployment.spec.selector.matchLabels } })
    expect(pdb.spec.minAvailable).toBeUndefined()
    expect(objects.some((o) => o.kind === 'HorizontalPodAutoscaler')).toBe(false)
  })
})

describe.concurrent('termination arithmetic', () => {
  it('renders the API settings: CORS origins comma-joined, as the app reads them', async () => {
    const objects = await render({ set: { 'config.corsOrigins': ['https://app.example.com', 'http://localhost:3000'], 'config.rateLimitMax': 100, 'config.bodyLimitBytes': 1048576 } })
    expect(getOne<ConfigMap>(objects, 'ConfigMap').data).toMatchObject({
      CORS_ORIGINS: 'https://app.example.com,http://localhost:3000',
      RATE_LIMIT_MAX: '100',
      BODY_LIMIT_BYTES: '1048576',
    })
  })

  it('moves the drain into the app (DRAIN_DELAY_MS) when drainMode=app, and extends the app deadline by it', async () => {
    const objects = await render({
      set: { 'termination.drainMode': 'app', 'termination.drainSeconds': 7, 'termination.closeTimeoutSeconds': 15, 'termination.safetyMarginSeconds': 3, terminationGracePeriodSeconds: 25 },
    })
    const config = getOne<ConfigMap>(objects, 'ConfigMap')
    const container = app(appDeployment(objects))
    expect(container.lifecycle).toBeUndefined()
    expect(config.data.DRAIN_DELAY_MS).toBe('7000')
    // SHUTDOWN_TIMEOUT_MS bounds the whole sequence from SIGTERM, drain included.
    expect(config.data.SHUTDOWN_TIMEOUT_MS).toBe('22000')
    expect(appDeployment(objects).spec.template.spec.terminationGracePeriodSeconds).toBe(25)
  })

  it('accepts a grace period exactly equal to drain + close + margin', async () => {
    const objects = await render({ set: { terminationGracePeriodSeconds: 35 } })
    expect(appDeployment(objects).spec.template.spec.terminationGracePeriodSeconds).toBe(35)
  })

  it('uses an exec /bin/sleep preStop on Kubernetes < 1.30', async () => {
    const objects = await render({ kubeVersion: '1.29.4' })
    expect(app(appDeployment(objects)).lifecycle).toEqual({ preStop: { exec: { command: ['/bin/sleep', '8'] } } })
  })

  it('lets preStopSleepAction override the version detection both ways', async () => {
    const [exec, native] = await Promise.all([
      render({ set: { 'termination.preStopSleepAction': 'exec' } }),
      render({ kubeVersion: '1.29.0', set: { 'termination.preStopSleepAction': 'native' } }),
    ])
    expect(app(appDeployment(exec)).lifecycle?.preStop).toEqual({ exec: { command: ['/bin/sleep', '8'] } })
    expect(app(appDeployment(native)).lifecycle?.preStop).toEqual({ sleep: { seconds: 8 } })
  })

  it('drains only in the app (no hook) when appDrainSeconds covers all of drainSeconds', async () => {
    const objects = await render({ set: { 'termination.drainSeconds': 2, 'termination.appDrainSeconds': 5 } })
    expect(app(appDeployment(objects)).lifecycle).toBeUndefined()
    expect(getOne<ConfigMap>(objects, 'ConfigMap').data).toMatchObject({ DRAIN_DELAY_MS: '2000', SHUTDOWN_TIMEOUT_MS: '22000' })
  })

  it("SERVICE_NAME: config.serviceName, else the chart's name (nameOverride)", async () => {
    const serviceName = async (set: Record<string, unknown>) => getOne<ConfigMap>(await render({ set }), 'ConfigMap').data.SERVICE_NAME
    expect(await serviceName({ 'config.serviceName': 'orders-eu' })).toBe('orders-eu')
    expect(await serviceName({ nameOverride: 'orders' })).toBe('orders')
  })

  it('config.host sets HOST (an IPv4-only listener, say)', async () => {
    const objects = await render({ set: { 'config.host': '0.0.0.0' } })
    expect(getOne<ConfigMap>(objects, 'ConfigMap').data.HOST).toBe('0.0.0.0')
  })

  it('sleeps all of drainSeconds in preStop when appDrainSeconds is 0 (no drain in the app)', async () => {
    const objects = await render({ set: { 'termination.appDrainSeconds': 0 } })
    expect(app(appDeployment(objects)).lifecycle).toEqual({ preStop: { sleep: { seconds: 10 } } })
    expect(getOne<ConfigMap>(objects, 'ConfigMap').data).toMatchObject({ DRAIN_DELAY_MS: '0', SHUTDOWN_TIMEOUT_MS: '20000' })
  })

  it('renders no preStop hook when drainSeconds is 0', async () => {
    const objects = await render({ set: { 'termination.drainSeconds': 0 } })
    expect(app(appDeployment(objects)).lifecycle).toBeUndefined()
    expect(getOne<ConfigMap>(objects, 'ConfigMap').data.DRAIN_DELAY_MS).toBe('0')
  })

  it('changes the config checksum (and so rolls the pods) when a termination value changes', async () => {
    const [a, b] = await Promise.all([render(), render({ set: { 'termination.closeTimeoutSeconds': 21 } })])
    const checksum = (o: K8sObject[]) => appDeployment(o).spec.template.metadata.annotations['checksum/config']
    expect(checksum(a)).not.toBe(checksum(b))
  })
})

describe.concurrent('secrets', () => {
  it('with existingSecret renders no Secret and points every secretKeyRef at it, with custom keys', async () => {
    const objects = await render({
      set: { 'secret.existingSecret': 'my-db-creds', 'secret.keys.databaseUrl': 'pg-url', 'secret.databaseUrl': 'postgres://ignored@x/db' },
    })
    expect(objects.some((o) => o.kind === 'Secret')).toBe(false)
    const deployment = appDeployment(objects)
    expect(app(deployment).env).toEqual([
      { name: 'DATABASE_URL', valueFrom: { secretKeyRef: { name: 'my-db-creds', key: 'pg-url' } } },
      { name: 'REDIS_URL', valueFrom: { secretKeyRef: { name: 'my-db-creds', key: 'REDIS_URL' } } },
    ])
    // Nothing chart-rendered to hash; the ConfigMap checksum stays.
    expect(deployment.spec.template.metadata.annotations['checksum/secret']).toBeUndefined()
    expect(deployment.spec.template.metadata.annotations['checksum/config']).toMatch(/^[a-f0-9]{64}$/)
  })

  it('stores explicit URLs base64-encoded and rolls the pods when they change', async () => {
    const set = { 'secret.databaseUrl': 'postgres://u:p@db:5432/app', 'secret.redisUrl': 'redis://cache:6379' }
    const [a, b] = await Promise.all([render({ set }), render({ set: { ...set, 'secret.redisUrl': 'redis://cache2:6379' } })])
    expect(getOne<Secret>(a, 'Secret').data).toEqual({ DATABASE_URL: b64(set['secret.databaseUrl']), REDIS_URL: b64(set['secret.redisUrl']) })
    const checksum = (o: K8sObject[]) => appDeployment(o).spec.template.metadata.annotations['checksum/secret']
    expect(checksum(a)).not.toBe(checksum(b))
  })
})

describe.concurrent('optional objects', () => {
  it('renders an autoscaling/v2 HPA and drops spec.replicas when autoscaling is enabled', async () => {
    const objects = await render({ set: { 'autoscaling.enabled': true } })
    const hpa = getOne<K8sObject & { spec: Record<string, unknown> }>(objects, 'HorizontalPodAutoscaler')
    expect(hpa.apiVersion).toBe('autoscaling/v2')
    expect(hpa.spec).toMatchObject({
      scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: fullname },
      minReplicas: 2,
      maxReplicas: 8,
      metrics: [{ type: 'Resource', resource: { name: 'cpu', target: { type: 'Utilization', averageUtilization: 70 } } }],
    })
    expect(appDeployment(objects).spec.replicas).toBeUndefined()
  })

  it('renders Ingress and NetworkPolicy only when enabled, wired to the Service and the pods', async () => {
    const objects = await render({ set: everythingEnabled })
    expect(kinds(objects)).toEqual([
      'ConfigMap', 'Deployment', 'Deployment', 'Deployment', 'HorizontalPodAutoscaler', 'Ingress', 'Job', 'NetworkPolicy', 'Pod',
      'PodDisruptionBudget', 'Secret', 'Secret', 'Service', 'Service', 'Service', 'Service', 'ServiceAccount', 'ServiceMonitor',
    ])
    const ingress = getOne<K8sObject & { spec: { ingressClassName: string; rules: { http: { paths: { backend: unknown }[] } }[] } }>(objects, 'Ingress')
    expect(ingress.spec.ingressClassName).toBe('nginx')
    expect(ingress.spec.rules[0]?.http.paths[0]?.backend).toEqual({ service: { name: fullname, port: { name: 'http' } } })

    const np = getOne<K8sObject & { spec: { podSelector: unknown; ingress: { from?: unknown[] }[] } }>(objects, 'NetworkPolicy')
    expect(np.spec.podSelector).toEqual({ matchLabels: appDeployment(objects).spec.selector.matchLabels })
    // The helm test pod carries the client label the policy admits.
    const testPod = getOne(objects, 'Pod')
    expect(testPod.metadata.labels?.[`${fullname}/client`]).toBe('true')
    expect(np.spec.ingress[0]?.from).toContainEqual({ podSelector: { matchLabels: { [`${fullname}/client`]: 'true' } } })

    expect(app(appDeployment(objects)).image).toBe(`service-template@sha256:${'a'.repeat(64)}`)
    expect(getOne<ConfigMap>(objects, 'ConfigMap').data.FEATURE_FLAG).toBe('on')
    expect(getOne<K8sObject & { spec: Record<string, unknown> }>(objects, 'PodDisruptionBudget').spec).toMatchObject({ minAvailable: 1 })
  })

  it('migrations.job.enabled: a pre-upgrade hook Job runs the same migrations with the same image and configuration, outside the Service', async () => {
    const objects = await render({ set: { 'migrations.job.enabled': true } })
    type Job = K8sObject & { spec: { backoffLimit: number; activeDeadlineSeconds: number; template: { metadata: { labels: Record<string, string> }; spec: PodSpec & { restartPolicy: string } } } }
    const job = getOne<Job>(objects, 'Job')
    expect(job.metadata.annotations).toMatchObject({ 'helm.sh/hook': 'pre-upgrade', 'helm.sh/hook-delete-policy': 'before-hook-creation,hook-succeeded' })
    expect(job.spec).toMatchObject({ backoffLimit: 3, activeDeadlineSeconds: 3600 })
    const pod = job.spec.template
    expect(pod.spec.restartPolicy).toBe('Never')
    const migrate = pod.spec.containers[0]!
    const server = app(appDeployment(objects))
    expect(migrate.command).toEqual(['node', 'dist/migrate-job.js'])
    expect(migrate.image).toBe(server.image)
    expect(migrate.envFrom).toEqual(server.envFrom)
    expect(migrate.env).toEqual(server.env)
    // The Service selects the app's pods only: the Job's pod never receives traffic.
    const service = objects.find((o) => o.kind === 'Service' && o.metadata.name === fullname) as K8sObject & { spec: { selector: Record<string, string> } }
    expect(Object.entries(service.spec.selector).every(([k, v]) => pod.metadata.labels[k] === v)).toBe(false)
    expect(pod.metadata.labels['app.kubernetes.io/component']).toBe('migrations')
    // Behind a transaction-mode pooler, the Job reads a direct URL from its own key.
    const direct = getOne<Job>(await render({ set: { 'migrations.job.enabled': true, 'migrations.job.databaseUrlKey': 'DIRECT_DATABASE_URL' } }), 'Job')
    expect(direct.spec.template.spec.containers[0]!.env).toContainEqual({ name: 'DATABASE_URL', valueFrom: { secretKeyRef: { name: fullname, key: 'DIRECT_DATABASE_URL' } } })
  })
})

describe('values-minikube.yaml', () => {
  let objects: K8sObject[]
  const rendered = lazy(() => render({ valuesFiles: [minikubeValues] }))
  beforeEach(async () => {
    objects = await rendered()
  })

  it('uses the locally built image without pulling', () => {
    const c = app(appDeployment(objects))
    expect(c.image).toBe('service-template:dev')
    expect(c.imagePullPolicy).toBe('Never')
  })

  it('deploys the in-chart Postgres and Redis and points the Secret at them', () => {
    const pg = getOne<Deployment>(objects, 'Deployment', '-postgres')
    const redis = getOne<Deployment>(objects, 'Deployment', '-redis')
    expect(pg.spec.template.spec.containers[0]?.image).toBe('postgres:17')
    expect(redis.spec.template.spec.containers[0]?.image).toBe('redis:7')
    getOne(objects, 'Service', '-postgres')
    getOne(objects, 'Service', '-redis')
    const secret = getOne<Secret>(objects, 'Secret', fullname)
    expect(secret.data).toEqual({
      DATABASE_URL: b64(`postgres://app:app@${fullname}-postgres:5432/app`),
      REDIS_URL: b64(`redis://${fullname}-redis:6379`),
    })
    // The dev dependencies are not selected by the app Service.
    expect(pg.spec.template.metadata.labels['app.kubernetes.io/component']).toBe('dev-dependency')
  })

  it('keeps the termination arithmetic consistent with its shorter grace period', () => {
    const d = appDeployment(objects)
    const config = getOne<ConfigMap>(objects, 'ConfigMap')
    expect(d.spec.template.spec.terminationGracePeriodSeconds).toBe(20)
    // 3 s drain: 1 s preStop sleep, then 2 s drained by the app itself.
    expect(app(d).lifecycle).toEqual({ preStop: { sleep: { seconds: 1 } } })
    expect(config.data).toMatchObject({ DRAIN_DELAY_MS: '2000', SHUTDOWN_TIMEOUT_MS: '12000', LOG_LEVEL: 'debug', PG_POOL_MAX: '5' })
  })
})

describe.concurrent('NOTES.txt', () => {
  const notes = async (...args: string[]) => {
    const result = await helm(['install', release, chartDir, '--dry-run=client', '--namespace', namespace, ...args])
    expect(result.code, result.stderr).toBe(0)
    return result.stdout.slice(result.stdout.indexOf('NOTES:'))
  }

  it('shows the derived shutdown timings and warns about missing URLs', async () => {
    const text = await notes()
    expect(text).toContain('preStop sleep 8s, DRAIN_DELAY_MS=2000, SHUTDOWN_TIMEOUT_MS=22000, terminationGracePeriodSeconds=40')
    expect(text).toContain('WARNING: no DATABASE_URL')
    expect(text).toContain('WARNING: no REDIS_URL')
  })

  it('does not warn when the URLs come from an existing Secret or the dev dependencies', async () => {
    const [existing, dev] = await Promise.all([notes('--set', 'secret.existingSecret=creds'), notes('--values', minikubeValues)])
    expect(existing).not.toContain('WARNING')
    expect(dev).not.toContain('WARNING')
    expect(dev).toContain('devDependencies.enabled=true runs a throw-away Postgres and Redis')
  })
})

// The chart writes the app's environment; the app validates it at boot. Feed the rendered
// ConfigMap to the app's own validator, so the two cannot drift (a float Helm renders as
// "1e-05", a value the app would reject with exit 78 and a crash loop).
describe.concurrent('the rendered environment passes the app config validation', () => {
  const urls = { DATABASE_URL: 'postgres://app:pw@db:5432/app', REDIS_URL: 'redis://cache:6379' }
  it.each([
    ['default values', {}],
    ['drainMode=app', { 'termination.drainMode': 'app' }],
    ['extreme but valid numbers', { 'config.maxEventLoopUtilization': 0.00001, 'config.keepAliveTimeoutMs': 2147483647, 'config.maxHeapUsedBytes': 8000000000 }],
    ['metrics disabled (METRICS_PORT=0)', { 'metrics.enabled': false }],
    ['MAX_RSS_BYTES derived from a 64Gi limit', { 'resources.limits.memory': '64Gi' }],
  ] as const)('%s', async (_name, set) => {
    const config = getOne<ConfigMap>(await render({ set }), 'ConfigMap')
    expect(() => loadConfig({ ...config.data, ...urls })).not.toThrow()
  })
  it('rejects a timer value Node cannot represent, in the schema', async () => {
    const result = await renderRaw({ set: { 'config.keepAliveTimeoutMs': 2147483648 } })
    expect(result.code).not.toBe(0)
    expect(result.stderr).toMatch(/keepAliveTimeoutMs/)
  })
})
