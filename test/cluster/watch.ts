// Records what the cluster does while a scenario runs, from three `kubectl get -w`
// streams: pods (phase, ready, restarts, exit codes), the app Service's EndpointSlices
// (which pods kube-proxy may route to) and events (the kubelet's probe failures). Every
// change is stamped with the time it arrived here. Scenarios wait on this state instead of
// polling kubectl, and the timeline pictures are drawn from it.
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process'
import type { EndpointSlice, Kube, KubeEvent, Pod, Terminated } from './kube.js'

export interface PodSample {
  t: number
  phase: string
  /** The Ready condition: all containers passed readiness. */
  ready: boolean
  /** The startup probe passed (container `started`). */
  started: boolean
  restarts: number
  deleting: boolean
  component: string
  containerID?: string
  podIP?: string
  node?: string
  terminated?: Terminated
  lastTerminated?: Terminated
}

export interface EndpointSample {
  t: number
  /** Listed in the Service's EndpointSlices with ready=true: kube-proxy sends new connections to it. */
  ready: boolean
  listed: boolean
}

export interface ProbeEvent {
  t: number
  pod: string
  reason: string
  message: string
  /** New occurrences in this update (the kubelet aggregates repeats into `count`). */
  occurrences: number
}

/** Splits a stream of concatenated (pretty-printed) JSON objects, as `kubectl get -w -o json` writes them. */
export class JsonStream {
  private buf = ''
  private depth = 0
  private inString = false
  private escaped = false
  private start = -1

  constructor(private readonly onObject: (value: unknown) => void) {}

  write(chunk: string): void {
    const base = this.buf.length
    this.buf += chunk
    for (let i = base; i < this.buf.length; i++) {
      const c = this.buf[i]
      if (this.inString) {
        if (this.escaped) this.escaped = false
        else if (c === '\\') this.escaped = true
        else if (c === '"') this.inString = false
      } else if (c === '"') this.inString = true
      else if (c === '{') {
        if (this.depth++ === 0) this.start = i
      } else if (c === '}' && --this.depth === 0) {
        this.onObject(JSON.parse(this.buf.slice(this.start, i + 1)))
        this.buf = this.buf.slice(i + 1)
        i = -1
      }
    }
    if (this.depth === 0) this.buf = ''
  }
}

interface WatchEvent<T> {
  type: 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | 'ERROR'
  object: T
}

function sampleOf(pod: Pod, t: number): PodSample {
  const c = pod.status.containerStatuses?.[0]
  return {
    t,
    phase: pod.status.phase,
    ready: pod.status.conditions?.some((x) => x.type === 'Ready' && x.status === 'True') ?? false,
    started: c?.started ?? false,
    restarts: c?.restartCount ?? 0,
    deleting: pod.metadata.deletionTimestamp !== undefined,
    component: pod.metadata.labels?.['app.kubernetes.io/component'] ?? '',
    containerID: c?.containerID?.replace(/^[a-z]+:\/\//, ''),
    podIP: pod.status.podIP,
    node: pod.spec.nodeName,
    terminated: c?.state?.terminated,
    lastTerminated: c?.lastState?.terminated,
  }
}

const same = (a: PodSample, b: PodSample): boolean =>
  a.phase === b.phase &&
  a.ready === b.ready &&
  a.started === b.started &&
  a.restarts === b.restarts &&
  a.deleting === b.deleting &&
  a.containerID === b.containerID &&
  a.terminated?.exitCode === b.terminated?.exitCode &&
  a.lastTerminated?.finishedAt === b.lastTerminated?.finishedAt

export class Recorder {
  /** History per pod name (one sample per change); `gone` once deleted. */
  readonly pods = new Map<string, { samples: PodSample[]; created: number; gone?: number }>()
  /** In-endpoints history per pod name. */
  readonly endpoints = new Map<string, EndpointSample[]>()
  readonly probeEvents: ProbeEvent[] = []
  private readonly slices = new Map<string, EndpointSlice>()
  private readonly eventCounts = new Map<string, number>()
  private readonly children: ChildProcessWithoutNullStreams[] = []
  private readonly waiters = new Set<() => void>()
  private stopped = false
  readonly began = Date.now()

  constructor(
    private readonly k: Kube,
    private readonly service: string,
  ) {}

  /** Starts the watches; resolves once each delivered its initial list (or after 5 s). */
  async start(): Promise<this> {
    const first = [
      this.watch(['pods'], (e: WatchEvent<Pod>) => this.onPod(e)),
      this.watch(['endpointslices', '-l', `kubernetes.io/service-name=${this.service}`], (e: WatchEvent<EndpointSlice>) => this.onSlice(e)),
      this.watch(['events', '--field-selector', 'involvedObject.kind=Pod'], (e: WatchEvent<KubeEvent>) => this.onEvent(e)),
    ]
    await Promise.race([Promise.all(first), new Promise((r) => setTimeout(r, 5000))])
    return this
  }

  stop(): void {
    this.stopped = true
    for (const c of this.children) c.kill('SIGTERM')
  }

  private watch<T>(what: string[], handle: (e: WatchEvent<T>) => void): Promise<void> {
    return new Promise((resolveFirst) => {
      const args = ['--context', this.k.context, '--namespace', this.k.namespace, 'get', ...what, '--watch', '--output-watch-events', '-o', 'json']
      const spawnOne = () => {
        const child = spawn('kubectl', args, { stdio: ['pipe', 'pipe', 'pipe'] })
        this.children.push(child)
        const parser = new JsonStream((obj) => {
          handle(obj as WatchEvent<T>)
          resolveFirst()
          this.notify()
        })
        child.stdout.setEncoding('utf8').on('data', (d: string) => parser.write(d))
        // An empty list prints nothing: count the first second of silence as "listed".
        setTimeout(resolveFirst, 1500)
        child.on('close', () => {
          // The API server ends watches after a while; restart them for long scenarios.
          if (!this.stopped) setTimeout(spawnOne, 500)
        })
      }
      spawnOne()
    })
  }

  private onPod(e: WatchEvent<Pod>): void {
    const t = Date.now()
    const name = e.object.metadata.name
    let entry = this.pods.get(name)
    if (!entry) {
      entry = { samples: [], created: Math.min(t, Date.parse(e.object.metadata.creationTimestamp)) }
      this.pods.set(name, entry)
    }
    if (e.type === 'DELETED') {
      entry.gone = t
      return
    }
    entry.gone = undefined
    const sample = sampleOf(e.object, t)
    const last = entry.samples.at(-1)
    if (!last || !same(last, sample)) entry.samples.push(sample)
  }

  private onSlice(e: WatchEvent<EndpointSlice>): void {
    if (e.type === 'DELETED') this.slices.delete(e.object.metadata.name)
    else this.slices.set(e.object.metadata.name, e.object)
    const t = Date.now()
    const now = new Map<string, { ready: boolean }>()
    for (const slice of this.slices.values()) {
      for (const ep of slice.endpoints ?? []) {
        const pod = ep.targetRef?.name
        if (pod) now.set(pod, { ready: now.get(pod)?.ready === true || ep.conditions?.ready === true })
      }
    }
    for (const pod of new Set([...now.keys(), ...this.endpoints.keys()])) {
      const history = this.endpoints.get(pod) ?? []
      const cur = now.get(pod)
      const sample = { t, ready: cur?.ready ?? false, listed: cur !== undefined }
      const last = history.at(-1)
      if (!last || last.ready !== sample.ready || last.listed !== sample.listed) history.push(sample)
      this.endpoints.set(pod, history)
    }
  }

  private onEvent(e: WatchEvent<KubeEvent>): void {
    const ev = e.object
    // Probe failures, and the kubelet killing a container that failed its liveness probe.
    if (e.type === 'DELETED' || (ev.reason !== 'Unhealthy' && ev.reason !== 'Killing')) return
    const t = Date.now()
    const count = ev.count ?? 1
    const seen = this.eventCounts.get(ev.metadata.uid)
    this.eventCounts.set(ev.metadata.uid, count)
    // The initial list replays old events: only count those that happened after we started.
    const when = Date.parse(ev.lastTimestamp ?? ev.eventTime ?? '') || t
    if (seen === undefined && when < this.began - 1000) return
    const occurrences = seen === undefined ? 1 : count - seen
    if (occurrences > 0) this.probeEvents.push({ t, pod: ev.involvedObject.name, reason: ev.reason, message: ev.message, occurrences })
  }

  private notify(): void {
    for (const w of [...this.waiters]) w()
  }

  // ------------------------------------------------------------------ current state

  /** Latest sample of every pod that exists now. */
  current(component?: string): Map<string, PodSample> {
    const out = new Map<string, PodSample>()
    for (const [name, entry] of this.pods) {
      const s = entry.samples.at(-1)
      if (!entry.gone && s && (component === undefined || s.component === component)) out.set(name, s)
    }
    return out
  }

  inEndpoints(pod: string): boolean {
    return this.endpoints.get(pod)?.at(-1)?.ready ?? false
  }

  /** Resolves with the time at which `predicate` first holds (checked on every change). */
  until(what: string, predicate: () => boolean, timeoutMs: number): Promise<number> {
    return new Promise((resolve, reject) => {
      const check = () => {
        if (!predicate()) return
        cleanup()
        resolve(Date.now())
      }
      const timer = setTimeout(() => {
        cleanup()
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}\n${this.describe()}`))
      }, timeoutMs)
      const ticker = setInterval(check, 250)
      const cleanup = () => {
        clearTimeout(timer)
        clearInterval(ticker)
        this.waiters.delete(check)
      }
      this.waiters.add(check)
      check()
    })
  }

  /** First time after `from` at which the pod's in-endpoints state was `ready`. */
  endpointChange(pod: string, ready: boolean, from: number): number | undefined {
    return this.endpoints.get(pod)?.find((s) => s.t >= from && s.ready === ready)?.t
  }

  /** Pods of a component that are ready, not being deleted, and in the endpoints. */
  serving(component = 'server'): string[] {
    return [...this.current(component)].filter(([name, s]) => s.ready && !s.deleting && this.inEndpoints(name)).map(([name]) => name)
  }

  /** Any pod of the component still terminating (deleted but not gone)? */
  terminating(component = 'server'): string[] {
    return [...this.current(component)].filter(([, s]) => s.deleting).map(([name]) => name)
  }

  describe(): string {
    return [...this.current()]
      .map(([name, s]) => `  ${name}: ${s.phase}${s.deleting ? ' (deleting)' : ''} ready=${s.ready} started=${s.started} restarts=${s.restarts} inEndpoints=${this.inEndpoints(name)}`)
      .join('\n')
  }
}
