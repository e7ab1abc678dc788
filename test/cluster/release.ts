// The release under test: the chart with values-minikube.yaml (app + dev Postgres + dev
// Redis in the namespace), three replicas, the images the global setup loaded. Every
// scenario states the values it needs with ensureRelease(); helm applies only what
// changed, so a scenario that needs the base values after one that changed them gets a
// rolling update back to them, and one that needs what is already there costs nothing.
import { inject } from 'vitest'
import { chartDir, minikubeValues } from '../chart/helm.js'
import { Kube, type Pod } from './kube.js'
import type { ClusterSettings } from './settings.js'

export type Overrides = Record<string, string | number>

export const settings = (): ClusterSettings => inject('cluster')

export function kube(s: ClusterSettings = settings(), namespace = s.namespace): Kube {
  return new Kube(s.context, namespace, s.helm)
}

/** Replicas of the app in every scenario: a rolling update replaces three pods. */
export const REPLICAS = 3

/** helm arguments shared by every install of the suite: minikube values + images. */
export function baseValues(s: ClusterSettings): Overrides {
  const values: Overrides = {
    replicaCount: REPLICAS,
    'image.repository': s.image.repository,
    'image.tag': s.image.tag,
    'image.pullPolicy': s.image.pullPolicy,
  }
  // Mirrors and offline clusters: the dev dependencies come from the same images the
  // container tests use, loaded into the cluster by the global setup (never pulled).
  if (s.postgresImage) {
    values['devDependencies.postgres.image'] = s.postgresImage
    values['devDependencies.postgres.pullPolicy'] = s.loader === 'none' ? 'IfNotPresent' : 'Never'
  }
  if (s.redisImage) {
    values['devDependencies.redis.image'] = s.redisImage
    values['devDependencies.redis.pullPolicy'] = s.loader === 'none' ? 'IfNotPresent' : 'Never'
  }
  // Chart variations to try with the suite, e.g. CLUSTER_HELM_SET=termination.appDrainSeconds=0
  return { ...values, ...s.helmSet }
}

function setArgs(values: Overrides): string[] {
  return Object.entries(values).flatMap(([k, v]) => [typeof v === 'number' ? '--set' : '--set-string', `${k}=${v}`])
}

/**
 * `helm upgrade --install --wait` with the suite's base values plus `overrides`.
 * Returns how long helm took, and whether the release was new.
 */
export async function ensureRelease(
  k: Kube,
  overrides: Overrides = {},
  opts: { wait?: boolean; settings?: ClusterSettings } = {},
): Promise<{ ms: number; fresh: boolean }> {
  const s = opts.settings ?? settings()
  const fresh = (await k.tryKubectl(['get', 'deployment', s.fullname])).code !== 0
  const began = Date.now()
  await k.helm([
    'upgrade',
    '--install',
    s.release,
    chartDir,
    '--values',
    minikubeValues,
    ...setArgs({ ...baseValues(s), ...overrides }),
    // Helm 4 applies server-side: after a `kubectl scale` (the disruption scenario) kubectl's
    // field manager owns .spec.replicas and a plain upgrade to another replicaCount fails with
    // "conflict with kubectl with subresource scale". The suite's values are meant to win.
    ...(s.helmMajor >= 4 ? ['--force-conflicts'] : []),
    ...(opts.wait === false ? [] : ['--wait', '--timeout', '10m']),
  ])
  return { ms: Date.now() - began, fresh }
}

/** Label selectors of the release's workloads. */
export const selectors = (s: ClusterSettings) => ({
  app: `app.kubernetes.io/instance=${s.release},app.kubernetes.io/component=server`,
  postgres: `app.kubernetes.io/instance=${s.release},app.kubernetes.io/name=service-template-postgres`,
  redis: `app.kubernetes.io/instance=${s.release},app.kubernetes.io/name=service-template-redis`,
})

export const names = (s: ClusterSettings) => ({
  deployment: s.fullname,
  service: s.fullname,
  postgres: `${s.fullname}-postgres`,
  redis: `${s.fullname}-redis`,
})

export async function appPods(k: Kube, s: ClusterSettings = settings()): Promise<Pod[]> {
  const list = await k.json<{ items: Pod[] }>(['get', 'pods', '-l', selectors(s).app])
  return list.items.filter((p) => !p.metadata.deletionTimestamp)
}

/** `kubectl scale` + wait until the Deployment has exactly that many ready pods. */
export async function scale(k: Kube, deployment: string, replicas: number, timeout = '5m'): Promise<void> {
  await k.kubectl(['scale', `deployment/${deployment}`, `--replicas=${replicas}`])
  await k.kubectl(['rollout', 'status', `deployment/${deployment}`, `--timeout=${timeout}`], { timeoutMs: 600_000 })
}

export interface ProbeSpec {
  periodSeconds: number
  timeoutSeconds: number
  failureThreshold: number
  successThreshold: number
  /** Liveness only: the grace of a restart the probe causes (the pod's otherwise). */
  terminationGracePeriodSeconds?: number
}
interface Deployment {
  spec: {
    template: {
      spec: {
        terminationGracePeriodSeconds: number
        containers: { readinessProbe: ProbeSpec; livenessProbe: ProbeSpec; startupProbe: ProbeSpec; lifecycle?: { preStop?: { sleep?: { seconds: number } } } }[]
      }
    }
  }
}

/** The probe and termination settings as deployed (the budgets are computed from these, not assumed). */
export async function deployedTimings(k: Kube, s: ClusterSettings = settings()) {
  const d = await k.json<Deployment>(['get', 'deployment', names(s).deployment])
  const pod = d.spec.template.spec
  const c = pod.containers[0]
  if (!c) throw new Error('the Deployment has no container')
  const cm = await k.json<{ data: Record<string, string> }>(['get', 'configmap', s.fullname])
  return {
    readiness: c.readinessProbe,
    liveness: c.livenessProbe,
    startup: c.startupProbe,
    graceSeconds: pod.terminationGracePeriodSeconds,
    preStopSeconds: c.lifecycle?.preStop?.sleep?.seconds ?? 0,
    drainDelayMs: Number(cm.data.DRAIN_DELAY_MS),
    shutdownTimeoutMs: Number(cm.data.SHUTDOWN_TIMEOUT_MS),
  }
}

/**
 * Longest time a failing probe takes to act, from the moment the failure starts: the next
 * probe may start up to one period later, `failureThreshold` failures are needed, the
 * last one takes up to `timeoutSeconds` to fail.
 */
export const failureBudgetSeconds = (p: ProbeSpec) => p.periodSeconds * p.failureThreshold + p.timeoutSeconds

export type ProbeType = 'Startup' | 'Readiness' | 'Liveness'
export type ProbeCounts = Map<string, Record<ProbeType, { failed: number; successful: number }>>

/**
 * Probe runs per pod of the namespace, from the kubelets' own counters (prober_probe_total on
 * /metrics/probes, through the API server's node proxy). Unlike events, which the kubelet
 * stops sending after 25 warnings per pod (client-go's spam filter), these count every probe.
 */
export async function probeCounts(k: Kube, nodes: string[]): Promise<ProbeCounts> {
  const counts: ProbeCounts = new Map()
  for (const node of new Set(nodes)) {
    const text = await k.kubectl(['get', '--raw', `/api/v1/nodes/${node}/proxy/metrics/probes`])
    for (const line of text.split('\n')) {
      const m = /^prober_probe_total\{(.*)\} ([0-9.e+]+)$/.exec(line)
      if (!m) continue
      const labels: Record<string, string | undefined> = {}
      for (const [, key, value] of (m[1] ?? '').matchAll(/(\w+)="([^"]*)"/g)) if (key) labels[key] = value
      if (labels.namespace !== k.namespace || !labels.pod) continue
      const entry = counts.get(labels.pod) ?? { Startup: { failed: 0, successful: 0 }, Readiness: { failed: 0, successful: 0 }, Liveness: { failed: 0, successful: 0 } }
      const type = labels.probe_type as ProbeType
      const result = labels.result === 'successful' ? 'successful' : 'failed'
      if (entry[type]) entry[type][result] += Number(m[2])
      counts.set(labels.pod, entry)
    }
  }
  return counts
}
