// 4 (continued). Other ways pods go away, under the same load as the rolling updates:
// a scale-down from 3 to 1, and evictions through the Eviction API (what `kubectl drain`
// and cluster upgrades use), where the PodDisruptionBudget must hold a second eviction
// while the first evicted pod's replacement is not ready yet. No request may fail.
import { setTimeout as sleep } from 'node:timers/promises'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Kube } from './kube.js'
import { describeCounts, diff, LoadClient, type ClientLog } from './load.js'
import { Results } from './results.js'
import { ensureRelease, kube, names, REPLICAS, scale, settings } from './release.js'
import { timelineData, type Marker } from './timeline.js'
import { Recorder } from './watch.js'

/** POST an Eviction for `pod`; resolves with kubectl's exit code and message. */
async function evict(k: Kube, pod: string): Promise<{ ok: boolean; message: string }> {
  const r = await k.tryKubectl(['create', '--raw', `/api/v1/namespaces/${k.namespace}/pods/${pod}/eviction`, '-f', '-'], {
    input: JSON.stringify({ apiVersion: 'policy/v1', kind: 'Eviction', metadata: { name: pod, namespace: k.namespace } }),
  })
  return { ok: r.code === 0, message: (r.stderr || r.stdout).trim() }
}

describe('scale-down and eviction under load', () => {
  const s = settings()
  const k = kube(s)
  const n = names(s)
  const results = new Results(s.resultsDir, '5-disruption')
  const markers: Marker[] = []
  let rec: Recorder
  let client: LoadClient
  let began: number

  beforeAll(async () => {
    await ensureRelease(k)
    rec = await new Recorder(k, n.service).start()
    client = await LoadClient.start(k, s, 'disruption-client')
    began = Date.now()
    await sleep(5000)
  })

  afterAll(async () => {
    let log: ClientLog | undefined
    if (client) log = await client.stop()
    if (rec && log) results.timeline('disruption', timelineData('Scale 3 -> 1, then evictions under a PodDisruptionBudget, under load', rec, began, Date.now(), log.ticks, markers))
    rec?.stop()
  })

  it(`scales ${REPLICAS} -> 1 with no failed request`, async () => {
    const before = await client.mark()
    const t0 = Date.now()
    markers.push({ t: t0, label: 'scale to 1' })
    await k.kubectl(['scale', `deployment/${n.deployment}`, '--replicas=1'])
    await rec.until('one app pod left', () => rec.current('server').size === 1 && rec.serving().length === 1, 120_000)
    const gone = Date.now()
    await sleep(2000)
    const m = await client.mark()
    const d = diff(before.totals, m.totals)
    results.figure('scaleDown', { ...d, latency: m.latency }, `scale ${REPLICAS} -> 1: the two pods were gone after ${((gone - t0) / 1000).toFixed(1)} s; ${describeCounts(d, m.latency)}`)
    markers.push({ t: Date.now(), label: `scale to ${REPLICAS}` })
    await scale(k, n.deployment, REPLICAS)
    await rec.until(`${REPLICAS} pods serving`, () => rec.serving().length === REPLICAS, 180_000)
    expect(d.failed).toBe(0)
  })

  it('evicts a pod; the PDB refuses a second eviction until the replacement is ready', async () => {
    const before = await client.mark()
    const initial = rec.serving()
    expect(initial).toHaveLength(REPLICAS)
    const [first, second] = initial as [string, string]
    const t0 = Date.now()
    markers.push({ t: t0, label: `evict ${first}` })
    const r1 = await evict(k, first)
    expect(r1, r1.message).toMatchObject({ ok: true })
    const r2 = await evict(k, second)
    const refusedAt = Date.now()
    // Retry the second eviction once a second, as `kubectl drain` does, until accepted.
    let accepted: number | undefined
    let refusals = 1
    while (accepted === undefined && Date.now() - t0 < 300_000) {
      await sleep(1000)
      if ((await evict(k, second)).ok) accepted = Date.now()
      else refusals++
    }
    markers.push({ t: accepted ?? Date.now(), label: `evict ${second}` })
    const replacement = [...rec.pods.keys()].find((p) => !initial.includes(p) && (rec.pods.get(p)?.created ?? 0) >= t0 - 1000)
    const replacementReady = replacement ? rec.pods.get(replacement)?.samples.find((x) => x.ready)?.t : undefined
    await rec.until('back to full strength', () => rec.serving().length === REPLICAS && rec.terminating().length === 0, 300_000)
    await sleep(2000)
    const m = await client.mark()
    const d = diff(before.totals, m.totals)
    results.figure(
      'eviction',
      { first: r1, second: r2, refusals, acceptedAfterMs: accepted && accepted - t0, replacementReadyAfterMs: replacementReady && replacementReady - t0, requests: d, latency: m.latency },
      `evicted ${first}; the eviction of ${second} was refused ${refusals}x ("${r2.message.replace(/^Error from server \(TooManyRequests\): /, '')}") ` +
        `until ${(((accepted ?? NaN) - t0) / 1000).toFixed(1)} s, the replacement ${replacement} was Ready at ${(((replacementReady ?? NaN) - t0) / 1000).toFixed(1)} s; ${describeCounts(d, m.latency)}`,
    )
    expect(r2.ok).toBe(false)
    expect(r2.message).toMatch(/disruption budget/)
    expect(refusedAt).toBeLessThan(replacementReady ?? Infinity)
    expect(accepted).toBeGreaterThanOrEqual(replacementReady ?? Infinity)
    expect(d.failed).toBe(0)
  })
})
