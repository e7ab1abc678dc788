// Prometheus metrics: a second listener (METRICS_PORT) with its own container port and
// headless Service, the prometheus.io/* pod annotations, and an optional ServiceMonitor.
import { describe, expect, it } from 'vitest'
import { loadConfig } from '../../src/config.js'
import { chartVersion, getOne, namespace, release, render, type K8sObject } from './helm.js'
import { app, appDeployment, type ConfigMap } from './objects.js'

type Service = K8sObject & { spec: Record<string, unknown> & { ports: { name: string; port: number; targetPort: string | number }[] } }

const fullname = `${release}-service-template`
const metricsSelector = {
  'app.kubernetes.io/name': 'service-template',
  'app.kubernetes.io/instance': release,
  'app.kubernetes.io/component': 'metrics',
}
const metricsLabels = {
  'helm.sh/chart': `service-template-${chartVersion}`,
  'app.kubernetes.io/version': '0.1.0',
  'app.kubernetes.io/managed-by': 'Helm',
  'app.kubernetes.io/part-of': 'service-template',
  ...metricsSelector,
}
const urls = { DATABASE_URL: 'postgres://app:pw@db:5432/app', REDIS_URL: 'redis://cache:6379' }

describe.concurrent('metrics (default values)', () => {
  it('declares the metrics container port, passes METRICS_PORT and annotates the pods for scraping', async () => {
    const objects = await render()
    const deployment = appDeployment(objects)
    expect(app(deployment).ports).toContainEqual({ name: 'metrics', containerPort: 9464, protocol: 'TCP' })
    expect(getOne<ConfigMap>(objects, 'ConfigMap').data.METRICS_PORT).toBe('9464')
    expect(deployment.spec.template.metadata.annotations).toMatchObject({
      'prometheus.io/scrape': 'true',
      'prometheus.io/port': '9464',
      'prometheus.io/path': '/metrics',
    })
    expect(objects.some((o) => o.kind === 'ServiceMonitor')).toBe(false)
  })

  it('lists the pods in a headless metrics Service that keeps unready pods, and keeps the public Service http-only', async () => {
    const objects = await render()
    const metrics = getOne<Service>(objects, 'Service', '-metrics')
    expect(metrics.metadata).toEqual({ name: `${fullname}-metrics`, labels: metricsLabels })
    expect(metrics.spec).toEqual({
      type: 'ClusterIP',
      clusterIP: 'None',
      publishNotReadyAddresses: true,
      ports: [{ name: 'metrics', port: 9464, targetPort: 'metrics', protocol: 'TCP' }],
      selector: appDeployment(objects).spec.selector.matchLabels,
    })
    const publicService = getOne<Service>(objects, 'Service', fullname)
    expect(publicService.spec.ports.map((p) => p.name)).toEqual(['http'])
    // The public Service's selector labels do not match the metrics component.
    expect(publicService.metadata.labels?.['app.kubernetes.io/component']).toBe('server')
  })

  it('moves every reference with metrics.port', async () => {
    const objects = await render({ set: { 'metrics.port': 9100, 'metrics.serviceMonitor.enabled': true } })
    const deployment = appDeployment(objects)
    expect(app(deployment).ports).toContainEqual({ name: 'metrics', containerPort: 9100, protocol: 'TCP' })
    expect(getOne<ConfigMap>(objects, 'ConfigMap').data.METRICS_PORT).toBe('9100')
    expect(deployment.spec.template.metadata.annotations['prometheus.io/port']).toBe('9100')
    expect(getOne<Service>(objects, 'Service', '-metrics').spec.ports).toEqual([{ name: 'metrics', port: 9100, targetPort: 'metrics', protocol: 'TCP' }])
  })
})

describe.concurrent('ServiceMonitor', () => {
  type ServiceMonitor = K8sObject & { metadata: { namespace: string }; spec: unknown }

  it('has the monitoring.coreos.com/v1 shape, selecting the metrics Service in the release namespace', async () => {
    const objects = await render({ set: { 'metrics.serviceMonitor.enabled': true } })
    const sm = getOne<ServiceMonitor>(objects, 'ServiceMonitor')
    // The whole object: a CRD has no kubernetes-models schema, so its shape is asserted here.
    expect(sm).toEqual({
      apiVersion: 'monitoring.coreos.com/v1',
      kind: 'ServiceMonitor',
      metadata: { name: fullname, namespace, labels: metricsLabels },
      spec: {
        namespaceSelector: { matchNames: [namespace] },
        selector: { matchLabels: metricsSelector },
        endpoints: [{ port: 'metrics', path: '/metrics', interval: '30s', scrapeTimeout: '10s' }],
      },
    })
    // It selects exactly the metrics Service, whose port it names.
    const selected = objects.filter(
      (o) => o.kind === 'Service' && Object.entries(metricsSelector).every(([k, v]) => o.metadata.labels?.[k] === v),
    ) as Service[]
    expect(selected.map((s) => s.metadata.name)).toEqual([`${fullname}-metrics`])
    expect(selected[0]?.spec.ports.map((p) => p.name)).toEqual(['metrics'])
  })

  it("lives in Prometheus' namespace with its selector labels, and leaves interval and timeout to Prometheus when empty", async () => {
    const objects = await render({
      set: {
        'metrics.serviceMonitor.enabled': true,
        'metrics.serviceMonitor.namespace': 'monitoring',
        'metrics.serviceMonitor.labels': { release: 'kube-prometheus-stack' },
        'metrics.serviceMonitor.interval': '',
        'metrics.serviceMonitor.scrapeTimeout': '',
      },
    })
    const sm = getOne<ServiceMonitor>(objects, 'ServiceMonitor')
    expect(sm.metadata.namespace).toBe('monitoring')
    expect(sm.metadata.labels).toEqual({ ...metricsLabels, release: 'kube-prometheus-stack' })
    expect(sm.spec).toEqual({
      namespaceSelector: { matchNames: [namespace] },
      selector: { matchLabels: metricsSelector },
      endpoints: [{ port: 'metrics', path: '/metrics' }],
    })
  })
})

describe.concurrent('metrics switches', () => {
  it('metrics.enabled=false renders METRICS_PORT=0 and no port, Service, annotation or ServiceMonitor', async () => {
    const objects = await render({ set: { 'metrics.enabled': false } })
    const deployment = appDeployment(objects)
    const config = getOne<ConfigMap>(objects, 'ConfigMap')
    expect(config.data.METRICS_PORT).toBe('0')
    expect(app(deployment).ports).toEqual([{ name: 'http', containerPort: 8000, protocol: 'TCP' }])
    expect(objects.filter((o) => o.kind === 'Service').map((o) => o.metadata.name)).toEqual([fullname])
    expect(Object.keys(deployment.spec.template.metadata.annotations).filter((k) => k.startsWith('prometheus.io/'))).toEqual([])
    expect(() => loadConfig({ ...config.data, ...urls })).not.toThrow()
  })

  it('metrics.podAnnotations=false leaves the pods unannotated (ServiceMonitor users)', async () => {
    const deployment = appDeployment(await render({ set: { 'metrics.podAnnotations': false } }))
    expect(Object.keys(deployment.spec.template.metadata.annotations).filter((k) => k.startsWith('prometheus.io/'))).toEqual([])
  })

  it('lets podAnnotations override a prometheus.io annotation without a duplicate key', async () => {
    // render() parses with uniqueKeys: a duplicate annotation would fail it.
    const deployment = appDeployment(await render({ set: { podAnnotations: { 'prometheus.io/path': '/custom', team: 'a' } } }))
    expect(deployment.spec.template.metadata.annotations).toMatchObject({
      'prometheus.io/scrape': 'true',
      'prometheus.io/port': '9464',
      'prometheus.io/path': '/custom',
      team: 'a',
    })
  })
})
