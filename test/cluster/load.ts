// Runs load-client.mjs in a pod of the test image (mounted from a ConfigMap), so the traffic
// comes from inside the cluster, through the Service's DNS name and kube-proxy, as other
// services' traffic would. The suite cuts a run into phases with marks (SIGUSR2 makes the
// client print its cumulative counts) and stops it with SIGTERM (it finishes the requests
// in flight and prints its totals). Results are read back with `kubectl logs`.
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { waitFor } from '../image/support.js'
import type { Kube, Pod } from './kube.js'
import { describeLatency, type Latency } from './latency.js'
import type { ClusterSettings } from './settings.js'

/** The client and the one module it imports, mounted side by side in its pod. */
const FILES = ['load-client.mjs', 'latency.ts']
const CONFIGMAP = 'cluster-test-load-client'

export interface Counts {
  ok: number
  failed: number
  keepalive: { ok: number; failed: number; closed: number }
  newconn: { ok: number; failed: number }
  /** "<keepalive|newconn> <kind>" -> count, e.g. "keepalive ECONNRESET". */
  kinds: Record<string, number>
}
export interface Tick extends Counts {
  t: number
  /** Latency of the requests that ended in this second (failed ones included). */
  latency: Latency
  /** The second's slowest request: its connection kind, whether the socket was reused, ok or the failure's kind. */
  slowest?: { ms: number; conn: 'keepalive' | 'newconn'; reused: boolean; result: string }
}
/** A mark: cumulative counts, and the latency of the phase since the previous mark. */
export interface Mark {
  n: number
  t: number
  totals: Counts
  latency: Latency
}
export interface Failure {
  t: number
  conn: 'keepalive' | 'newconn'
  kind: string
  message: string
  reused: boolean
  ms: number
}
export interface ReadyPoll {
  t: number
  status: number
  degraded?: boolean
  error?: string
}
export interface ClientLog {
  ticks: Tick[]
  failures: Failure[]
  ready: ReadyPoll[]
  marks: Mark[]
  end?: { t: number; totals: Counts; latency: Latency }
}

export interface LoadOptions {
  /** Default GET /fixture/db: one query through the pod's pool (test/fixtures/routes.ts). */
  path?: string
  keepAliveClients?: number
  newConnClients?: number
  intervalMs?: number
  timeoutMs?: number
  /** Also GET /ready through the Service once a second (status and `degraded`). */
  pollReady?: boolean
}

/** Difference of two cumulative counts (b - a). */
export function diff(a: Counts, b: Counts): Counts {
  const kinds: Record<string, number> = {}
  for (const key of new Set([...Object.keys(a.kinds), ...Object.keys(b.kinds)])) {
    const n = (b.kinds[key] ?? 0) - (a.kinds[key] ?? 0)
    if (n > 0) kinds[key] = n
  }
  return {
    ok: b.ok - a.ok,
    failed: b.failed - a.failed,
    keepalive: { ok: b.keepalive.ok - a.keepalive.ok, failed: b.keepalive.failed - a.keepalive.failed, closed: b.keepalive.closed - a.keepalive.closed },
    newconn: { ok: b.newconn.ok - a.newconn.ok, failed: b.newconn.failed - a.newconn.failed },
    kinds,
  }
}

/** One line for a phase's counts (and their latency, from the mark that ends the phase), as printed with the figures. */
export const describeCounts = (c: Counts, latency?: Latency): string =>
  `${c.ok + c.failed} requests (keep-alive ${c.keepalive.ok + c.keepalive.failed}, of which ${c.keepalive.closed} answered with Connection: close; ` +
  `new connection ${c.newconn.ok + c.newconn.failed}), ${c.failed} failed${c.failed ? `: ${Object.entries(c.kinds).map(([k, n]) => `${k} x${n}`).join(', ')}` : ''}` +
  (latency ? `; ${describeLatency(latency)}` : '')

export function parseClientLog(text: string): ClientLog {
  const log: ClientLog = { ticks: [], failures: [], ready: [], marks: [] }
  for (const line of text.split('\n')) {
    if (!line.startsWith('{')) continue
    const o = JSON.parse(line) as { type: string } & Record<string, unknown>
    if (o.type === 'tick') log.ticks.push(o as unknown as Tick)
    else if (o.type === 'fail') log.failures.push(o as unknown as Failure)
    else if (o.type === 'ready') log.ready.push(o as unknown as ReadyPoll)
    else if (o.type === 'mark') log.marks.push(o as unknown as Mark)
    else if (o.type === 'end') log.end = o as unknown as ClientLog['end']
  }
  return log
}

/** Restricted pod security settings shared by the suite's helper pods (uid 1000 = `node`). */
export function helperPod(s: ClusterSettings, name: string, container: Record<string, unknown>, spec: Record<string, unknown> = {}): object {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name,
      labels: { 'app.kubernetes.io/component': 'cluster-test', [`${s.fullname}-client`]: 'true' },
    },
    spec: {
      restartPolicy: 'Never',
      automountServiceAccountToken: false,
      terminationGracePeriodSeconds: 30,
      securityContext: { runAsNonRoot: true, runAsUser: 1000, runAsGroup: 1000, seccompProfile: { type: 'RuntimeDefault' } },
      ...spec,
      containers: [
        {
          name: 'main',
          image: s.image.ref,
          imagePullPolicy: s.image.pullPolicy,
          securityContext: { allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] } },
          resources: { requests: { cpu: '100m', memory: '64Mi' }, limits: { memory: '256Mi' } },
          ...container,
        },
      ],
    },
  }
}

export async function waitForPodRunning(k: Kube, name: string, timeoutMs = 120_000): Promise<Pod> {
  return waitFor(
    `pod ${name} running`,
    async () => {
      const pod = await k.json<Pod>(['get', 'pod', name])
      if (pod.status.phase === 'Failed' || pod.status.phase === 'Succeeded') throw new Error(`pod ${name} ended: ${pod.status.phase}`)
      return pod.status.containerStatuses?.[0]?.state?.running ? pod : undefined
    },
    timeoutMs,
  )
}

export class LoadClient {
  private constructor(
    private readonly k: Kube,
    readonly name: string,
  ) {}

  static async start(k: Kube, s: ClusterSettings, name: string, opts: LoadOptions = {}): Promise<LoadClient> {
    const base = `http://${s.fullname}`
    const env: Record<string, string> = {
      TARGET_URL: `${base}${opts.path ?? '/fixture/db'}`,
      KEEPALIVE_CLIENTS: String(opts.keepAliveClients ?? 8),
      NEWCONN_CLIENTS: String(opts.newConnClients ?? 4),
      INTERVAL_MS: String(opts.intervalMs ?? 20),
      TIMEOUT_MS: String(opts.timeoutMs ?? 5000),
      ...(opts.pollReady ? { READY_URL: `${base}/ready` } : {}),
    }
    const data = Object.fromEntries(FILES.map((f) => [f, readFileSync(fileURLToPath(new URL(`./${f}`, import.meta.url)), 'utf8')]))
    await k.apply({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: CONFIGMAP }, data })
    await k.tryKubectl(['delete', 'pod', name, '--ignore-not-found', '--wait=true'])
    await k.apply(
      helperPod(
        s,
        name,
        {
          command: ['node', '/client/load-client.mjs'],
          env: Object.entries(env).map(([n, value]) => ({ name: n, value })),
          volumeMounts: [{ name: 'client', mountPath: '/client', readOnly: true }],
          // The busy load sends ~60,000 requests a rollout and keeps its tallies in memory.
          resources: { requests: { cpu: '200m', memory: '64Mi' }, limits: { memory: '512Mi' } },
        },
        { volumes: [{ name: 'client', configMap: { name: CONFIGMAP } }] },
      ),
    )
    await waitForPodRunning(k, name)
    const client = new LoadClient(k, name)
    // Running and sending: the first per-second tick has been printed.
    await waitFor(`load client ${name} sending`, async () => ((await client.log()).ticks.length > 0 ? true : undefined), 30_000)
    return client
  }

  async log(): Promise<ClientLog> {
    return parseClientLog(await this.k.kubectl(['logs', this.name]))
  }

  private async signal(sig: 'SIGUSR2' | 'SIGTERM'): Promise<void> {
    // The shell's kill builtin, not a second node process: that one needs tens of MB in the
    // client's container, and was OOM-killed (exit 137) next to a busy client near its limit.
    const r = await this.k.exec(this.name, ['sh', '-c', `kill -${sig.replace('SIG', '')} 1`])
    if (r.code !== 0) throw new Error(`signalling the load client failed: ${r.stderr}`)
  }

  /** Cumulative counts at this moment, and the latency since the previous mark. */
  async mark(): Promise<Mark> {
    const before = (await this.log()).marks.length
    await this.signal('SIGUSR2')
    return waitFor(`mark ${before + 1} of ${this.name}`, async () => (await this.log()).marks[before], 30_000)
  }

  /** Stops the client (it finishes the requests in flight) and returns its whole log. */
  async stop(): Promise<ClientLog> {
    await this.signal('SIGTERM')
    const log = await waitFor(`end of ${this.name}`, async () => {
      const l = await this.log()
      return l.end ? l : undefined
    }, 60_000)
    await this.k.tryKubectl(['delete', 'pod', this.name, '--wait=false'])
    return log
  }
}
