// What the cluster suite acts on and how, resolved once in the global setup from the
// environment and the current kube context, then handed to every test file (inject).
//
//   CLUSTER_CONTEXT       kube context to act on (default: the current context)
//   CLUSTER_IMAGE_LOADER  how local images reach the cluster's nodes:
//                         bundled   $CLUSTER_SH load (podman -> the repository CI's own cluster's containerd)
//                         minikube  minikube -p <profile> image load
//                         kind      kind load docker-image --name <cluster>
//                         none      nothing: the cluster pulls IMAGE_REPOSITORY:IMAGE_TAG (and the
//                                   Postgres/Redis images) from a registry itself
//                         default: from the context (kind-<name> -> kind; a minikube profile ->
//                         minikube; the bundled cluster's context -> bundled), else none
//   CLUSTER_IMAGE_BUILD   1 (default unless the loader is none): build the app image from the
//                         Dockerfile, then the test image on top of it, with the local engine
//                         (DOCKER_HOST) before loading the test image
//   IMAGE_REPOSITORY, IMAGE_TAG   the app image (default service-template:dev). The suite deploys
//                         the test image IMAGE_REPOSITORY:IMAGE_TAG-fixture: the app image plus
//                         test/fixtures, running the fixture server (test/fixtures/Dockerfile), so
//                         its load and slow requests use the fixture routes, not the example API
//   POSTGRES_IMAGE, REDIS_IMAGE   images of the chart's dev Postgres/Redis (loaded like the app image);
//                         unset: the chart's defaults, pulled by the cluster
//   CLUSTER_NAMESPACE     namespace of the suite (default service-template-cluster-test; the startup
//                         gating scenario uses <namespace>-gating); deleted before and after the run
//   CLUSTER_KEEP=1        keep the namespaces after the run, to look around
//   CLUSTER_HELM_SET      extra chart values for every release, key=value[,key=value]
//                         (e.g. termination.appDrainSeconds=0 shows the keep-alive resets it prevents)
//   CLUSTER_SH            the bundled loader's script (a `load IMAGE...` command); the repository's
//                         own CI (.ci/run) sets it, a clone's users use kind or minikube
//   HELM                  helm binary (default: helm on PATH)
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { findHelm } from '../chart/helm.js'
import { findTool, kindTool, kubectlTool, minikubeTool } from '../helpers/tools.js'
import { repoRoot } from '../image/support.js'
import { command } from './kube.js'

export type Loader = 'bundled' | 'minikube' | 'kind' | 'none'
const LOADERS: readonly Loader[] = ['bundled', 'minikube', 'kind', 'none']

export interface ClusterSettings {
  context: string
  server: string
  namespace: string
  gatingNamespace: string
  release: string
  /** Name of the app's Deployment, Service, PDB (the chart's fullname for this release). */
  fullname: string
  /** The app image, built from the repository's Dockerfile. */
  appImage: string
  /** The image deployed (and run by the helper pods): the app image plus the test fixture. */
  image: { repository: string; tag: string; ref: string; pullPolicy: 'Never' | 'IfNotPresent' }
  postgresImage?: string
  redisImage?: string
  loader: Loader
  build: boolean
  keep: boolean
  clusterSh: string
  helm: string
  /** Helm's major version: 4 applies server-side (and so may meet field-ownership conflicts). */
  helmMajor: number
  /** CLUSTER_HELM_SET: chart values for every release (numbers as numbers). */
  helmSet: Record<string, string | number>
  resultsDir: string
}

// The repository CI's bundled cluster: its kubeconfig's context and API address.
const BUNDLED_CONTEXT_SUFFIX = '@k8s-local'
const BUNDLED_SERVER = 'https://10.243.255.1:6443'

function detectLoader(context: string, server: string): Loader {
  if (context.endsWith(BUNDLED_CONTEXT_SUFFIX) || server === BUNDLED_SERVER) return 'bundled'
  if (context.startsWith('kind-')) return 'kind'
  if (context === 'minikube' || process.env.MINIKUBE_PROFILE === context) return 'minikube'
  return 'none'
}

async function kubectlConfig(args: string[]): Promise<string> {
  const r = await command(findTool(kubectlTool), ['config', ...args], { timeoutMs: 30_000 })
  if (r.code !== 0) {
    throw new Error(
      `kubectl config ${args.join(' ')} failed (${r.code}): ${r.stderr.trim()}. ` +
        'The cluster suite runs against the current kube context: point KUBECONFIG at a cluster ' +
        '(e.g. `kind create cluster` or `minikube start`).',
    )
  }
  return r.stdout.trim()
}

export async function resolveSettings(env: NodeJS.ProcessEnv = process.env): Promise<ClusterSettings> {
  const context = env.CLUSTER_CONTEXT || (await kubectlConfig(['current-context']))
  const server = await kubectlConfig(['view', '--minify', '--context', context, '-o', 'jsonpath={.clusters[0].cluster.server}'])
  const requested = env.CLUSTER_IMAGE_LOADER
  if (requested !== undefined && !LOADERS.includes(requested as Loader)) {
    throw new Error(`CLUSTER_IMAGE_LOADER=${requested}: expected one of ${LOADERS.join(', ')}`)
  }
  const loader = (requested as Loader | undefined) ?? detectLoader(context, server)
  const repository = env.IMAGE_REPOSITORY ?? 'service-template'
  const appTag = env.IMAGE_TAG ?? 'dev'
  const tag = `${appTag}-fixture`
  const namespace = env.CLUSTER_NAMESPACE ?? 'service-template-cluster-test'
  const helm = env.HELM || findHelm()
  const version = await command(helm, ['version', '--short'], { timeoutMs: 30_000 })
  const major = /^v(\d+)\./.exec(version.stdout.trim())
  if (version.code !== 0 || !major) throw new Error(`helm (${helm}) does not run or has no version: ${version.stderr || version.stdout}`)
  const helmSet: Record<string, string | number> = {}
  for (const pair of (env.CLUSTER_HELM_SET ?? '').split(',').filter(Boolean)) {
    const eq = pair.indexOf('=')
    if (eq < 1) throw new Error(`CLUSTER_HELM_SET: expected key=value[,key=value], got "${pair}"`)
    const value = pair.slice(eq + 1)
    helmSet[pair.slice(0, eq)] = /^[0-9]+$/.test(value) ? Number(value) : value
  }
  const release = 'service-template'
  return {
    context,
    server,
    namespace,
    gatingNamespace: `${namespace}-gating`,
    release,
    // The chart's fullname: a release name that contains the chart name is used as is.
    fullname: release,
    appImage: `${repository}:${appTag}`,
    image: { repository, tag, ref: `${repository}:${tag}`, pullPolicy: loader === 'none' ? 'IfNotPresent' : 'Never' },
    postgresImage: env.POSTGRES_IMAGE || undefined,
    redisImage: env.REDIS_IMAGE || undefined,
    loader,
    build: (env.CLUSTER_IMAGE_BUILD ?? (loader === 'none' ? '0' : '1')) === '1',
    keep: env.CLUSTER_KEEP === '1',
    clusterSh: env.CLUSTER_SH ?? '',
    helm,
    helmMajor: Number(major[1]),
    helmSet,
    resultsDir: join(repoRoot, 'test', 'cluster', 'results'),
  }
}

/** The command that copies local images into the cluster, or undefined for loader `none`. */
export function loadCommand(s: ClusterSettings, images: string[]): [string, string[]] | undefined {
  switch (s.loader) {
    case 'bundled':
      if (s.clusterSh === '' || !existsSync(s.clusterSh)) {
        throw new Error(
          `CLUSTER_IMAGE_LOADER=bundled needs CLUSTER_SH, the path of a script whose \`load IMAGE...\` copies local images into the cluster (${s.clusterSh || 'unset'}); on kind or minikube the loader is detected from the context`,
        )
      }
      return ['bash', [s.clusterSh, 'load', ...images]]
    case 'minikube':
      return [findTool(minikubeTool), ['-p', s.context, 'image', 'load', ...images]]
    case 'kind':
      return [findTool(kindTool), ['load', 'docker-image', '--name', s.context.replace(/^kind-/, ''), ...images]]
    case 'none':
      return undefined
  }
}
