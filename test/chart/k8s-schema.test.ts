// Every rendered object validated against the Kubernetes 1.33 API (kubernetes-models:
// ajv validators for types/required/enums, TypeScript interfaces for unknown fields).
import { describe, expect, it } from 'vitest'
import { everythingEnabled, minikubeValues, render, type K8sObject, type RenderOptions } from './helm.js'
import { validateAll, validateFields, validateSchema } from './k8s-validate.js'

const valueSets: [string, RenderOptions][] = [
  ['default values', {}],
  ['values-minikube.yaml', { valuesFiles: [minikubeValues] }],
  ['everything enabled (ingress, networkPolicy, hpa, dev dependencies)', { set: everythingEnabled }],
  [
    'everything enabled, drainMode=app, existingSecret, Kubernetes 1.29 (exec preStop)',
    {
      kubeVersion: '1.29.0',
      set: { ...everythingEnabled, 'termination.drainMode': 'app', 'secret.existingSecret': 'creds', 'networkPolicy.allowExternal': true },
    },
  ],
  ['everything enabled with a 60-character fullname', { set: { ...everythingEnabled, fullnameOverride: 'f'.repeat(60) } }],
  ['metrics disabled, no memory limit', { set: { 'metrics.enabled': false, 'networkPolicy.enabled': true, resources: { requests: { cpu: '100m' } } } }],
]

// The ServiceMonitor is a CRD (monitoring.coreos.com/v1): kubernetes-models has no schema
// for it, so test/chart/metrics.test.ts asserts its whole shape instead.
const isCrd = (o: K8sObject) => o.apiVersion === 'monitoring.coreos.com/v1'

describe('rendered objects are valid Kubernetes 1.33 objects', () => {
  it('for every values set (one render each, one TypeScript program for all)', async () => {
    const rendered = await Promise.all(valueSets.map(([, opts]) => render(opts)))
    for (const [i, objects] of rendered.entries()) expect(objects.length, valueSets[i]?.[0]).toBeGreaterThan(5)
    const all = rendered.flat()
    expect(all.filter(isCrd).map((o) => o.kind)).toEqual(['ServiceMonitor', 'ServiceMonitor', 'ServiceMonitor'])
    expect(validateAll(all.filter((o) => !isCrd(o)))).toEqual([])
  })
})

type MutableDeployment = K8sObject & {
  spec: Record<string, unknown> & { template: { spec: { containers: Record<string, unknown>[] } } }
}

describe('the validators catch invalid objects', () => {
  const deployment = async (): Promise<MutableDeployment> => {
    const found = (await render()).find((o) => o.kind === 'Deployment')
    if (!found) throw new Error('no Deployment rendered')
    return found as MutableDeployment
  }

  it('accept the unmodified Deployment (control case)', async () => {
    expect(validateAll([await deployment()])).toEqual([])
  })

  it('reject a Deployment with a string where an integer is required', async () => {
    const d = await deployment()
    d.spec.replicas = 'two'
    const schemaErrors = validateSchema(d)
    expect(schemaErrors).toHaveLength(1)
    expect(schemaErrors[0]).toMatch(/spec\/replicas must be integer/)
    expect(validateFields([d]).join('\n')).toMatch(/Type 'string' is not assignable to type 'number'/)
  })

  it('reject a container without its required name', async () => {
    const d = await deployment()
    delete d.spec.template.spec.containers[0]!.name
    expect(validateSchema(d)[0]).toMatch(/containers\/0 must have required property '?name'?/)
  })

  it('reject a probe port of the wrong type', async () => {
    const d = await deployment()
    d.spec.template.spec.containers[0]!.readinessProbe = { httpGet: { path: '/ready', port: true } }
    expect(validateSchema(d)[0]).toMatch(/readinessProbe\/httpGet\/port/)
  })

  it('reject an unknown (misspelt) field', async () => {
    const d = await deployment()
    const container = d.spec.template.spec.containers[0]!
    container.readinesProbe = container.readinessProbe
    expect(validateFields([d]).join('\n')).toMatch(/'"?readinesProbe"?' does not exist in type 'IContainer'/)
  })

  it('reject a kind they have no schema for', () => {
    const object = { apiVersion: 'v1', kind: 'Nope', metadata: { name: 'x' } }
    expect(validateSchema(object)[0]).toMatch(/no Kubernetes schema registered/)
    expect(validateFields([object])[0]).toMatch(/no Kubernetes type registered/)
  })
})
