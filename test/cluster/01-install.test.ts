// 1. Install: `helm upgrade --install --wait` with the minikube values succeeds, `helm test`
// passes, every pod is Ready with restartCount 0; time from install to all Ready.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { Results } from './results.js'
import { ensureRelease, kube, names, REPLICAS, settings } from './release.js'
import { Recorder } from './watch.js'

describe('install', () => {
  const s = settings()
  const k = kube(s)
  const results = new Results(s.resultsDir, '1-install')
  let rec: Recorder
  let installed: { ms: number; fresh: boolean }
  let began: number

  beforeAll(async () => {
    rec = await new Recorder(k, names(s).service).start()
    began = Date.now()
    installed = await ensureRelease(k)
  })
  afterAll(() => rec?.stop())

  it('installs with --wait: every pod Ready, none restarted', async () => {
    expect(installed.fresh).toBe(true)
    // The watch may lag helm by a moment: wait for it to have seen every pod Ready.
    const allReady = await rec.until('every pod Ready', () => {
      const pods = [...rec.current().values()].filter((p) => p.component !== 'cluster-test')
      return pods.length >= REPLICAS + 2 && pods.every((p) => p.ready)
    }, 60_000)
    const pods = rec.current()
    const app = [...pods].filter(([, p]) => p.component === 'server')
    expect(app).toHaveLength(REPLICAS)
    for (const [name, p] of pods) {
      expect({ name, ready: p.ready, restarts: p.restarts }).toEqual({ name, ready: true, restarts: 0 })
    }
    const readyAt = [...rec.pods].map(([name, e]) => ({ name, at: e.samples.find((x) => x.ready)?.t ?? NaN }))
    results.figure('helmInstallMs', installed.ms, `helm upgrade --install --wait returned after ${(installed.ms / 1000).toFixed(1)} s`)
    results.figure(
      'installToAllReadyMs',
      allReady - began,
      `install to all ${pods.size} pods Ready: ${((allReady - began) / 1000).toFixed(1)} s (${readyAt
        .map((r) => `${r.name} +${((r.at - began) / 1000).toFixed(1)} s`)
        .join(', ')}), restartCount 0 everywhere`,
    )
  })

  it('passes helm test', async () => {
    const t0 = Date.now()
    const out = await k.helm(['test', s.release, '--logs', '--timeout', '5m'])
    expect(out).toMatch(/Phase:\s+Succeeded/)
    expect(out).toMatch(/-> 200 /)
    results.figure('helmTestMs', Date.now() - t0, `helm test passed in ${((Date.now() - t0) / 1000).toFixed(1)} s`)
  })
})
