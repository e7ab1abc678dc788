// Tracing values: off by default (no OTEL_* at all), the standard OTEL_* variables from
// the values when an endpoint is set (never hard-coded), the pod/namespace/node from the
// downward API as resource attributes, and NetworkPolicy egress to the collector only.
import { describe, expect, it } from 'vitest'
import { expectRenderFails, getOne, render, type K8sObject } from './helm.js'
import { app, appDeployment, type EnvVar } from './objects.js'

const endpoint = 'http://otel-collector.observability:4318'
const env = async (set: Record<string, unknown>) => app(appDeployment(await render({ set }))).env ?? []
const value = (vars: EnvVar[], name: string) => vars.find((v) => v.name === name)?.value

interface Rule {
  ports?: { port: number | string; protocol: string }[]
  to?: Record<string, unknown>[]
}
type NetworkPolicy = K8sObject & { spec: { egress: Rule[] } }
const closedEgress = { 'networkPolicy.enabled': true, 'networkPolicy.allowExternalEgress': false, 'devDependencies.enabled': true }
const collectorRules = async (set: Record<string, unknown>) =>
  getOne<NetworkPolicy>(await render({ set: { ...closedEgress, ...set } }), 'NetworkPolicy').spec.egress.filter((r) => r.ports?.some((p) => ![53, 5432, 6379].includes(Number(p.port))))

describe.concurrent('tracing values', () => {
  it('render no OTEL_* variable by default: tracing stays off', async () => {
    const vars = await env({})
    expect(vars.filter((v) => v.name.startsWith('OTEL_') || v.name.startsWith('K8S_'))).toEqual([])
  })

  it('render the OTEL_* variables from the values, the k8s attributes from the downward API', async () => {
    const vars = await env({
      'tracing.endpoint': endpoint,
      'tracing.protocol': 'grpc',
      'tracing.sampler': 'parentbased_always_on',
      'tracing.samplerArg': '0.5',
      'tracing.resourceAttributes': { 'deployment.environment.name': 'prod', team: 'a,b=c' },
    })
    expect(Object.fromEntries(vars.filter((v) => v.name.startsWith('OTEL_')).map((v) => [v.name, v.value]))).toEqual({
      OTEL_EXPORTER_OTLP_ENDPOINT: endpoint,
      OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc',
      OTEL_SERVICE_NAME: 'rel-service-template',
      OTEL_TRACES_SAMPLER: 'parentbased_always_on',
      OTEL_TRACES_SAMPLER_ARG: '0.5',
      OTEL_RESOURCE_ATTRIBUTES:
        'k8s.pod.name=$(K8S_POD_NAME),k8s.namespace.name=$(K8S_NAMESPACE_NAME),k8s.node.name=$(K8S_NODE_NAME),deployment.environment.name=prod,team=a%2Cb%3Dc',
    })
    const fields = Object.fromEntries(vars.filter((v) => v.name.startsWith('K8S_')).map((v) => [v.name, v.valueFrom?.fieldRef?.fieldPath]))
    expect(fields).toEqual({ K8S_POD_NAME: 'metadata.name', K8S_NAMESPACE_NAME: 'metadata.namespace', K8S_NODE_NAME: 'spec.nodeName' })
    // $(VAR) expands only variables defined before it in the list.
    const names = vars.map((v) => v.name)
    for (const k8s of ['K8S_POD_NAME', 'K8S_NAMESPACE_NAME', 'K8S_NODE_NAME']) expect(names.indexOf(k8s)).toBeLessThan(names.indexOf('OTEL_RESOURCE_ATTRIBUTES'))
  })

  it('default to 10 % of new traces, following the caller\'s decision, over http/protobuf', async () => {
    const vars = await env({ 'tracing.endpoint': endpoint, 'tracing.serviceName': 'orders' })
    expect([value(vars, 'OTEL_TRACES_SAMPLER'), value(vars, 'OTEL_TRACES_SAMPLER_ARG'), value(vars, 'OTEL_EXPORTER_OTLP_PROTOCOL'), value(vars, 'OTEL_SERVICE_NAME')]).toEqual([
      'parentbased_traceidratio',
      '0.1',
      'http/protobuf',
      'orders',
    ])
  })

  it('are checked by the schema', async () => {
    await expectRenderFails({ 'tracing.endpoint': 'otel-collector:4318' }, '/tracing/endpoint')
    await expectRenderFails({ 'tracing.protocol': 'http' }, '/tracing/protocol')
    await expectRenderFails({ 'tracing.sampler': 'sometimes' }, '/tracing/sampler')
    await expectRenderFails({ 'tracing.samplerArg': '10%' }, '/tracing/samplerArg')
  })
})

describe.concurrent('NetworkPolicy egress to the trace collector', () => {
  it('is absent without an endpoint', async () => {
    expect(await collectorRules({})).toEqual([])
  })

  it('allows the endpoint\'s port, to the collector\'s namespace (and pods) only', async () => {
    expect(await collectorRules({ 'tracing.endpoint': endpoint, 'tracing.networkPolicy.podSelector': { 'app.kubernetes.io/name': 'otel-collector' } })).toEqual([
      {
        to: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'observability' } }, podSelector: { matchLabels: { 'app.kubernetes.io/name': 'otel-collector' } } }],
        ports: [{ port: 4318, protocol: 'TCP' }],
      },
    ])
  })

  it('uses the scheme\'s port when the endpoint names none', async () => {
    const [https] = await collectorRules({ 'tracing.endpoint': 'https://otlp.example.com' })
    expect(https?.ports).toEqual([{ port: 443, protocol: 'TCP' }])
    const [grpc] = await collectorRules({ 'tracing.endpoint': 'http://otel-collector.observability:4317/', 'tracing.protocol': 'grpc' })
    expect(grpc?.ports).toEqual([{ port: 4317, protocol: 'TCP' }])
  })

  it('refuses an empty namespace selector (it would open the port to every namespace)', async () => {
    await expectRenderFails({ ...closedEgress, 'tracing.endpoint': endpoint, 'tracing.networkPolicy.namespaceSelector': { 'kubernetes.io/metadata.name': null } }, 'tracing.networkPolicy.namespaceSelector must not be empty')
  })
})
