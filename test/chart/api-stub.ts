// A stand-in for the Kubernetes API server that answers what `helm template --dry-run=server`
// asks: discovery, the objects the templates `lookup`, and "not found" for the rest. It
// lets the render tests drive the chart's lookup branches (what Helm renders when the
// Deployment already exists); it proves nothing about the cluster's own behaviour.
import { createServer, type Server } from 'node:http'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { AddressInfo } from 'node:net'

// groupVersion -> [plural, kind] of every kind the chart renders (Helm maps each rendered
// object through discovery and fails on an unknown kind).
const resources: Record<string, [string, string][]> = {
  v1: [['configmaps', 'ConfigMap'], ['secrets', 'Secret'], ['services', 'Service'], ['serviceaccounts', 'ServiceAccount'], ['pods', 'Pod']],
  'apps/v1': [['deployments', 'Deployment']],
  'autoscaling/v2': [['horizontalpodautoscalers', 'HorizontalPodAutoscaler']],
  'policy/v1': [['poddisruptionbudgets', 'PodDisruptionBudget']],
  'networking.k8s.io/v1': [['networkpolicies', 'NetworkPolicy'], ['ingresses', 'Ingress']],
  'monitoring.coreos.com/v1': [['servicemonitors', 'ServiceMonitor']],
}

export interface StubObject {
  apiVersion: string
  kind: string
  metadata: { name: string; namespace: string; [key: string]: unknown }
  [key: string]: unknown
}

export interface ApiStub {
  kubeconfig: string
  /** "METHOD path" of every request, in order. */
  requests: string[]
  close(): Promise<void>
}

function pathOf(object: StubObject): string {
  const plural = resources[object.apiVersion]?.find(([, kind]) => kind === object.kind)?.[0]
  if (!plural) throw new Error(`api-stub: no resource for ${object.apiVersion}/${object.kind}`)
  const prefix = object.apiVersion === 'v1' ? '/api/v1' : `/apis/${object.apiVersion}`
  return `${prefix}/namespaces/${object.metadata.namespace}/${plural}/${object.metadata.name}`
}

function discovery(): Map<string, unknown> {
  const routes = new Map<string, unknown>()
  routes.set('/version', { major: '1', minor: '33', gitVersion: 'v1.33.0', platform: 'linux/amd64' })
  routes.set('/api', { kind: 'APIVersions', versions: ['v1'], serverAddressByClientCIDRs: [] })
  const groups = Object.keys(resources).filter((gv) => gv.includes('/'))
  routes.set('/apis', {
    kind: 'APIGroupList',
    apiVersion: 'v1',
    groups: groups.map((groupVersion) => {
      const [name, version] = groupVersion.split('/')
      return { name, versions: [{ groupVersion, version }], preferredVersion: { groupVersion, version } }
    }),
  })
  for (const [groupVersion, kinds] of Object.entries(resources)) {
    routes.set(groupVersion === 'v1' ? '/api/v1' : `/apis/${groupVersion}`, {
      kind: 'APIResourceList',
      apiVersion: 'v1',
      groupVersion,
      resources: kinds.map(([name, kind]) => ({ name, singularName: kind.toLowerCase(), namespaced: true, kind, verbs: ['get', 'list'] })),
    })
  }
  return routes
}

/** Starts the stub on a free loopback port with the given live objects. */
export async function startApiStub(objects: StubObject[]): Promise<ApiStub> {
  const routes = discovery()
  for (const object of objects) {
    // Helm only renders over objects it owns: give them a release's ownership metadata.
    const metadata = object.metadata as { labels?: Record<string, string>; annotations?: Record<string, string> }
    metadata.labels = { 'app.kubernetes.io/managed-by': 'Helm', ...metadata.labels }
    metadata.annotations = { 'meta.helm.sh/release-name': 'rel', 'meta.helm.sh/release-namespace': object.metadata.namespace, ...metadata.annotations }
    routes.set(pathOf(object), object)
  }
  const requests: string[] = []
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '').split('?')[0] ?? ''
    requests.push(`${req.method} ${path}`)
    let body = req.method === 'GET' ? routes.get(path) : undefined
    // Release history (Helm's storage Secrets): none.
    if (!body && req.method === 'GET' && path.endsWith('/secrets')) body = { kind: 'SecretList', apiVersion: 'v1', metadata: {}, items: [] }
    res.writeHead(body ? 200 : 404, { 'content-type': 'application/json' })
    res.end(JSON.stringify(body ?? { kind: 'Status', apiVersion: 'v1', status: 'Failure', reason: 'NotFound', code: 404 }))
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  const kubeconfig = join(mkdtempSync(join(tmpdir(), 'api-stub-')), 'kubeconfig')
  writeFileSync(
    kubeconfig,
    [
      'apiVersion: v1',
      'kind: Config',
      `clusters: [{name: stub, cluster: {server: "http://127.0.0.1:${port}"}}]`,
      'users: [{name: stub, user: {}}]',
      'contexts: [{name: stub, context: {cluster: stub, user: stub}}]',
      'current-context: stub',
      '',
    ].join('\n'),
  )
  return {
    kubeconfig,
    requests,
    close: () => new Promise<void>((resolve, reject) => server.close((error) => (error ? reject(error) : resolve()))),
  }
}
