// A real Jaeger 2 (all-in-one, in-memory storage) for the tracing tests: it receives
// OTLP from the built server and answers its query API (the one its UI uses), which the
// tests read traces back from. The image comes from the caller (images.jaeger, which
// JAEGER_IMAGE overrides): no relative import here, so the bench can load this file too.
import { GenericContainer, getContainerRuntimeClient, ImageName, Wait, type StartedNetwork, type StartedTestContainer } from 'testcontainers'

export const OTLP_HTTP_PORT = 4318
const QUERY_PORT = 16686

export interface JaegerTag {
  key: string
  type: string
  value: string | number | boolean
}

export interface JaegerSpan {
  traceID: string
  spanID: string
  operationName: string
  references: Array<{ refType: string; traceID: string; spanID: string }>
  /** Microseconds. */
  startTime: number
  duration: number
  tags: JaegerTag[]
  /** Span events (an exception's among them). */
  logs: Array<{ timestamp: number; fields: JaegerTag[] }>
  processID: string
}

export interface JaegerTrace {
  traceID: string
  spans: JaegerSpan[]
  processes: Record<string, { serviceName: string; tags: JaegerTag[] }>
}

export interface Jaeger {
  container: StartedTestContainer
  /** OTLP/HTTP endpoint on the host (OTEL_EXPORTER_OTLP_ENDPOINT). */
  otlpUrl: string
  /** A trace by id, or undefined while Jaeger has none of its spans. */
  trace(traceId: string): Promise<JaegerTrace | undefined>
  /** The traces of a service (newest first, at most `limit`). */
  traces(service: string, limit?: number): Promise<JaegerTrace[]>
  stop(): Promise<void>
}

export const tag = (span: JaegerSpan, key: string): string | number | boolean | undefined => span.tags.find((t) => t.key === key)?.value

/** The parent span id (CHILD_OF), or undefined for a root span. */
export const parentOf = (span: JaegerSpan): string | undefined => span.references.find((r) => r.refType === 'CHILD_OF')?.spanID

async function getJson<T>(url: string): Promise<{ status: number; body: T }> {
  const res = await fetch(url, { signal: AbortSignal.timeout(10_000) })
  return { status: res.status, body: (await res.json()) as T }
}

/**
 * Starts Jaeger, on `network` if given (alias `jaeger`, so a Toxiproxy there can stand between the
 * service and it). Every port the image EXPOSEs is published: with the container engine
 * the tests run on, an exposed port left unpublished is reported as a binding that never
 * comes, and the start waits for it forever.
 */
export async function startJaeger(
  imageName: string,
  network?: StartedNetwork,
  // How to start it: the tests pass stack.ts's startContainer (it retries a lost host-port
  // race). Not imported here: the bench loads this file with Node's type stripping, which
  // resolves no `./x.js` import to its `.ts` source.
  startWith: <T>(start: () => Promise<T>) => Promise<T> = (start) => start(),
): Promise<Jaeger> {
  const client = await getContainerRuntimeClient()
  const image = ImageName.fromString(imageName)
  if (!(await client.image.exists(image))) {
    throw new Error(`Jaeger image ${imageName} not found on the container engine: pull it, or set JAEGER_IMAGE to a local Jaeger 2 image`)
  }
  const exposed = Object.keys((await client.image.inspect(image)).Config.ExposedPorts ?? {}) as Array<`${number}/${'tcp' | 'udp'}`>
  let definition = new GenericContainer(imageName)
  if (network) definition = definition.withNetwork(network).withNetworkAliases('jaeger')
  const container = await startWith(() =>
    definition
      .withExposedPorts(...new Set([...exposed, `${OTLP_HTTP_PORT}/tcp` as const, `${QUERY_PORT}/tcp` as const]))
      .withWaitStrategy(Wait.forHttp('/api/services', QUERY_PORT).forStatusCode(200))
      .withStartupTimeout(120_000)
      .start(),
  )
  const host = container.getHost()
  const query = `http://${host}:${container.getMappedPort(QUERY_PORT)}/api`
  return {
    container,
    otlpUrl: `http://${host}:${container.getMappedPort(OTLP_HTTP_PORT)}`,
    async trace(traceId) {
      const { status, body } = await getJson<{ data?: JaegerTrace[] }>(`${query}/traces/${traceId}`)
      if (status === 404) return undefined
      if (status !== 200) throw new Error(`Jaeger answered ${status} for trace ${traceId}`)
      return body.data?.[0]
    },
    async traces(service, limit = 100) {
      const { status, body } = await getJson<{ data?: JaegerTrace[] }>(`${query}/traces?service=${encodeURIComponent(service)}&limit=${limit}&lookback=1h`)
      if (status !== 200) throw new Error(`Jaeger answered ${status} for the traces of ${service}`)
      return body.data ?? []
    },
    stop: async () => void (await container.stop()),
  }
}
