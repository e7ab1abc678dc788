// Tracing configuration: the standard OTEL_* variables, read once by the preload
// (tracing.ts) and checked like the rest of the configuration (config.ts): a bad value
// stops the process with exit 78 and one line naming the variable, before anything
// listens. Dependency-free, so the preload can decide "off" without loading the SDK.
//
// Off (undefined) unless an OTLP endpoint is set, or when OTEL_SDK_DISABLED=true or
// OTEL_TRACES_EXPORTER=none. Only the variables this service acts on are read; the
// exporters read the endpoint, headers and certificates themselves, as the spec says.
import { serviceName as configuredServiceName } from './config.js'
import { ConfigError } from './env.js'

export type Protocol = 'http/protobuf' | 'grpc' | 'http/json'
export type SamplerName = 'always_on' | 'always_off' | 'traceidratio' | 'parentbased_always_on' | 'parentbased_always_off' | 'parentbased_traceidratio'

export interface TracingConfig {
  protocol: Protocol
  sampler: SamplerName
  /** The ratio of the *traceidratio samplers (OTEL_TRACES_SAMPLER_ARG), 0 to 1. */
  ratio: number
  serviceName: string
  /** OTEL_RESOURCE_ATTRIBUTES, decoded; service.name/version added by the SDK setup. */
  resourceAttributes: Record<string, string>
  /** Bound on one export (OTLP timeout and the batch processor's export timeout). */
  exportTimeoutMs: number
  /** The batch processor: spans beyond maxQueueSize waiting for export are dropped (and counted). */
  maxQueueSize: number
  maxExportBatchSize: number
  scheduleDelayMs: number
}

type Env = Record<string, string | undefined>

const PROTOCOLS: readonly Protocol[] = ['http/protobuf', 'grpc', 'http/json']
const SAMPLERS: readonly SamplerName[] = ['parentbased_always_on', 'parentbased_always_off', 'parentbased_traceidratio', 'always_on', 'always_off', 'traceidratio']

function read(env: Env, name: string): string | undefined {
  const value = env[name]
  return value === undefined || value.trim() === '' ? undefined : value.trim()
}

function oneOf<T extends string>(env: Env, name: string, allowed: readonly T[], fallback: T): T {
  const raw = read(env, name)
  if (raw === undefined) return fallback
  if (!allowed.includes(raw as T)) throw new ConfigError(`${name}=${raw}: expected one of ${allowed.join(', ')}`)
  return raw as T
}

function integer(env: Env, name: string, fallback: number, min: number, max: number): number {
  const raw = read(env, name)
  if (raw === undefined) return fallback
  if (!/^\d+$/.test(raw) || Number(raw) < min || Number(raw) > max) throw new ConfigError(`${name}=${raw}: expected an integer from ${min} to ${max}`)
  return Number(raw)
}

function boolean(env: Env, name: string): boolean {
  const raw = read(env, name)?.toLowerCase()
  if (raw === undefined || raw === 'false') return false
  if (raw === 'true') return true
  throw new ConfigError(`${name}=${read(env, name)}: expected true or false`)
}

function endpoint(env: Env, name: string): string | undefined {
  const raw = read(env, name)
  if (raw === undefined) return undefined
  let parsed: URL
  try {
    parsed = new URL(raw)
  } catch {
    // Never echoed: an endpoint may carry credentials.
    throw new ConfigError(`${name} is not a valid URL: expected a URL like http://otel-collector:4318`)
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') throw new ConfigError(`${name} has protocol "${parsed.protocol}": expected http: or https:`)
  return raw
}

/** OTEL_RESOURCE_ATTRIBUTES: key1=value1,key2=value2, values percent-encoded (W3C Baggage octets). */
export function parseResourceAttributes(raw: string | undefined): Record<string, string> {
  const out: Record<string, string> = {}
  if (raw === undefined) return out
  for (const pair of raw.split(',')) {
    if (pair.trim() === '') continue
    const eq = pair.indexOf('=')
    const key = eq === -1 ? '' : pair.slice(0, eq).trim()
    if (key === '' || !/^[\x21-\x7e]+$/.test(key)) throw new ConfigError(`OTEL_RESOURCE_ATTRIBUTES: "${pair.trim()}" is not key=value: expected key1=value1,key2=value2`)
    let value: string
    try {
      value = decodeURIComponent(pair.slice(eq + 1).trim())
    } catch {
      throw new ConfigError(`OTEL_RESOURCE_ATTRIBUTES: the value of ${key} is not valid percent-encoding`)
    }
    out[key] = value
  }
  return out
}

// A blackholed collector holds an export this long at most; the spec's default (10 s)
// is longer than it is worth waiting at shutdown, where the flush gets what is left of
// SHUTDOWN_TIMEOUT_MS anyway.
const DEFAULT_EXPORT_TIMEOUT_MS = 5000
const DEFAULT_EXPORT_BATCH_SIZE = 64

/** undefined: tracing off, nothing to load. Throws ConfigError on a bad value. */
export function loadTracingConfig(env: Env): TracingConfig | undefined {
  const disabled = boolean(env, 'OTEL_SDK_DISABLED')
  const exporter = read(env, 'OTEL_TRACES_EXPORTER')
  if (exporter !== undefined && exporter !== 'otlp' && exporter !== 'none') {
    throw new ConfigError(`OTEL_TRACES_EXPORTER=${exporter}: expected otlp or none (this service exports traces over OTLP only)`)
  }
  const url = endpoint(env, 'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT') ?? endpoint(env, 'OTEL_EXPORTER_OTLP_ENDPOINT')
  // Checked even when off, so a typo shows before tracing is turned on, not after.
  const protocol = oneOf(env, 'OTEL_EXPORTER_OTLP_TRACES_PROTOCOL', PROTOCOLS, oneOf(env, 'OTEL_EXPORTER_OTLP_PROTOCOL', PROTOCOLS, 'http/protobuf'))
  const sampler = oneOf(env, 'OTEL_TRACES_SAMPLER', SAMPLERS, 'parentbased_always_on')
  let ratio = 1
  const rawArg = read(env, 'OTEL_TRACES_SAMPLER_ARG')
  if (sampler.endsWith('traceidratio') && rawArg !== undefined) {
    ratio = Number(rawArg)
    if (!/^(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i.test(rawArg) || !(ratio >= 0 && ratio <= 1)) {
      throw new ConfigError(`OTEL_TRACES_SAMPLER_ARG=${rawArg}: expected a number from 0 to 1 (the share of traces sampled)`)
    }
  }
  const resourceAttributes = parseResourceAttributes(read(env, 'OTEL_RESOURCE_ATTRIBUTES'))
  // The OTLP timeout and the batch processor's export timeout bound the same wait: the first set wins.
  const timeoutVar = ['OTEL_EXPORTER_OTLP_TRACES_TIMEOUT', 'OTEL_EXPORTER_OTLP_TIMEOUT', 'OTEL_BSP_EXPORT_TIMEOUT'].find((name) => read(env, name) !== undefined)
  const exportTimeoutMs = timeoutVar === undefined ? DEFAULT_EXPORT_TIMEOUT_MS : integer(env, timeoutVar, DEFAULT_EXPORT_TIMEOUT_MS, 1, 600_000)
  const maxQueueSize = integer(env, 'OTEL_BSP_MAX_QUEUE_SIZE', 2048, 1, 1_000_000)
  // 64, not the spec's 512: spans waiting for a batch to fill outlive V8's young generation,
  // and the old one grows until the pod's RSS crosses MAX_RSS_BYTES and it sheds requests
  // (docs/tracing.md#memory). An in-cluster collector takes a small batch in a millisecond or two.
  const maxExportBatchSize = integer(env, 'OTEL_BSP_MAX_EXPORT_BATCH_SIZE', Math.min(DEFAULT_EXPORT_BATCH_SIZE, maxQueueSize), 1, 1_000_000)
  if (maxExportBatchSize > maxQueueSize) {
    throw new ConfigError(`OTEL_BSP_MAX_EXPORT_BATCH_SIZE=${maxExportBatchSize}: must not exceed OTEL_BSP_MAX_QUEUE_SIZE=${maxQueueSize}`)
  }
  const scheduleDelayMs = integer(env, 'OTEL_BSP_SCHEDULE_DELAY', 5000, 0, 600_000)
  // SERVICE_NAME names the process everywhere else (Postgres, Redis): the traces too, unless OTEL_* says otherwise.
  const serviceName = read(env, 'OTEL_SERVICE_NAME') ?? resourceAttributes['service.name'] ?? configuredServiceName(env)
  if (disabled || exporter === 'none' || url === undefined) return undefined
  return {
    protocol,
    sampler,
    ratio,
    serviceName,
    resourceAttributes,
    exportTimeoutMs,
    maxQueueSize,
    maxExportBatchSize,
    scheduleDelayMs,
  }
}
