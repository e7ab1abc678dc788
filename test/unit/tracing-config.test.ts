import { describe, expect, it } from 'vitest'
import { ConfigError } from '../../src/env.js'
import { loadTracingConfig, parseResourceAttributes } from '../../src/tracing-config.js'

const on = { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318' }

describe('loadTracingConfig', () => {
  it('is off without an endpoint, when disabled, or with the none exporter', () => {
    expect(loadTracingConfig({})).toBeUndefined()
    expect(loadTracingConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: '  ' })).toBeUndefined()
    expect(loadTracingConfig({ ...on, OTEL_SDK_DISABLED: 'true' })).toBeUndefined()
    expect(loadTracingConfig({ ...on, OTEL_SDK_DISABLED: 'TRUE' })).toBeUndefined()
    expect(loadTracingConfig({ ...on, OTEL_TRACES_EXPORTER: 'none' })).toBeUndefined()
  })

  it("is on with either endpoint, with the spec's defaults but a bounded export and a small batch", () => {
    expect(loadTracingConfig(on)).toEqual({
      protocol: 'http/protobuf',
      sampler: 'parentbased_always_on',
      ratio: 1,
      serviceName: 'service-template',
      resourceAttributes: {},
      exportTimeoutMs: 5000,
      maxQueueSize: 2048,
      maxExportBatchSize: 64,
      scheduleDelayMs: 5000,
    })
    expect(loadTracingConfig({ OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'https://collector/v1/traces', OTEL_SDK_DISABLED: 'false' })).toBeDefined()
  })

  it('names the service SERVICE_NAME unless OTEL_SERVICE_NAME (or the resource attributes) says otherwise', () => {
    expect(loadTracingConfig({ ...on, SERVICE_NAME: 'orders' })?.serviceName).toBe('orders')
    expect(loadTracingConfig({ ...on, SERVICE_NAME: 'orders', OTEL_SERVICE_NAME: 'orders-eu' })?.serviceName).toBe('orders-eu')
    expect(() => loadTracingConfig({ ...on, SERVICE_NAME: 'my orders' })).toThrow(/^SERVICE_NAME=my orders/)
  })

  it('reads the sampler, protocol, names, attributes and bounds', () => {
    const c = loadTracingConfig({
      ...on,
      OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
      OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: 'grpc',
      OTEL_TRACES_SAMPLER: 'parentbased_traceidratio',
      OTEL_TRACES_SAMPLER_ARG: '0.1',
      OTEL_SERVICE_NAME: 'orders',
      OTEL_RESOURCE_ATTRIBUTES: 'k8s.pod.name=orders-7d9f,k8s.namespace.name=shop,team=a%20b',
      OTEL_EXPORTER_OTLP_TIMEOUT: '2000',
      OTEL_BSP_MAX_QUEUE_SIZE: '40',
    })
    expect(c).toMatchObject({
      protocol: 'grpc',
      sampler: 'parentbased_traceidratio',
      ratio: 0.1,
      serviceName: 'orders',
      resourceAttributes: { 'k8s.pod.name': 'orders-7d9f', 'k8s.namespace.name': 'shop', team: 'a b' },
      exportTimeoutMs: 2000,
      maxQueueSize: 40,
      maxExportBatchSize: 40,
    })
    expect(loadTracingConfig({ ...on, OTEL_RESOURCE_ATTRIBUTES: 'service.name=from-attributes' })?.serviceName).toBe('from-attributes')
  })

  it.each([
    [{ OTEL_SDK_DISABLED: 'yes' }, /^OTEL_SDK_DISABLED=yes: expected true or false$/],
    [{ OTEL_EXPORTER_OTLP_ENDPOINT: 'collector:4318' }, /^OTEL_EXPORTER_OTLP_ENDPOINT has protocol "collector:"/],
    [{ OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'not a url' }, /^OTEL_EXPORTER_OTLP_TRACES_ENDPOINT is not a valid URL/],
    [{ OTEL_EXPORTER_OTLP_PROTOCOL: 'http' }, /^OTEL_EXPORTER_OTLP_PROTOCOL=http: expected one of http\/protobuf, grpc, http\/json$/],
    [{ OTEL_TRACES_SAMPLER: 'jaeger_remote' }, /^OTEL_TRACES_SAMPLER=jaeger_remote: expected one of/],
    [{ OTEL_TRACES_SAMPLER: 'traceidratio', OTEL_TRACES_SAMPLER_ARG: '10%' }, /^OTEL_TRACES_SAMPLER_ARG=10%: expected a number from 0 to 1/],
    [{ OTEL_TRACES_SAMPLER: 'traceidratio', OTEL_TRACES_SAMPLER_ARG: '1.5' }, /^OTEL_TRACES_SAMPLER_ARG=1.5/],
    [{ OTEL_RESOURCE_ATTRIBUTES: 'k8s.pod.name' }, /^OTEL_RESOURCE_ATTRIBUTES: "k8s.pod.name" is not key=value/],
    [{ OTEL_RESOURCE_ATTRIBUTES: 'team=%zz' }, /^OTEL_RESOURCE_ATTRIBUTES: the value of team is not valid percent-encoding$/],
    [{ OTEL_TRACES_EXPORTER: 'zipkin' }, /^OTEL_TRACES_EXPORTER=zipkin: expected otlp or none/],
    [{ OTEL_EXPORTER_OTLP_TIMEOUT: '5s' }, /^OTEL_EXPORTER_OTLP_TIMEOUT=5s: expected an integer/],
    [{ OTEL_BSP_MAX_QUEUE_SIZE: '0' }, /^OTEL_BSP_MAX_QUEUE_SIZE=0: expected an integer from 1/],
    [{ OTEL_BSP_MAX_QUEUE_SIZE: '10', OTEL_BSP_MAX_EXPORT_BATCH_SIZE: '20' }, /^OTEL_BSP_MAX_EXPORT_BATCH_SIZE=20: must not exceed OTEL_BSP_MAX_QUEUE_SIZE=10$/],
  ])('rejects %o, naming the variable', (env, message) => {
    expect(() => loadTracingConfig({ ...on, ...env })).toThrow(ConfigError)
    expect(() => loadTracingConfig({ ...on, ...env })).toThrow(message)
  })

  it('checks the values even while off, so a typo shows before tracing is turned on', () => {
    expect(() => loadTracingConfig({ OTEL_TRACES_SAMPLER: 'always' })).toThrow(/^OTEL_TRACES_SAMPLER=always/)
  })

  it('never echoes an endpoint that does not parse (it may carry credentials)', () => {
    expect(() => loadTracingConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://user:s3cret@[bad' })).toThrow(/^OTEL_EXPORTER_OTLP_ENDPOINT is not a valid URL: expected a URL like http:\/\/otel-collector:4318$/)
  })
})

describe('parseResourceAttributes', () => {
  it('skips empty pairs and trims', () => {
    expect(parseResourceAttributes(' a = 1 ,, b=2,')).toEqual({ a: '1', b: '2' })
    expect(parseResourceAttributes(undefined)).toEqual({})
  })
})
