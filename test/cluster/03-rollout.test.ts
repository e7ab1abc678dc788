// 4. The headline: rolling updates under load drop no request. An in-cluster client sends
// GET /api/items (a Postgres query) through the Service's DNS name over pooled keep-alive
// connections and over a new connection per request, while `kubectl rollout restart`
// replaces the replicas, several rollouts in a row, in both termination.drainMode values.
// Every failed request (reset, refused, timeout, 5xx) fails the scenario.
//
//   CLUSTER_DRAIN_MODES  modes to run (default "preStop,app")
//   CLUSTER_ROLLOUTS     rollouts per mode (default 5)
import { setTimeout as sleep } from 'node:timers/promises'
import { describe, expect, it } from 'vitest'
import { describeCounts, diff, LoadClient, type Counts } from './load.js'
import { Results } from './results.js'
import { deployedTimings, ensureRelease, kube, names, REPLICAS, settings } from './release.js'
import { timelineData, type Marker } from './timeline.js'
import { Recorder } from './watch.js'

const MODES = (process.env.CLUSTER_DRAIN_MODES ?? 'preStop,app').split(',').filter(Boolean)
const ROLLOUTS = Number(process.env.CLUSTER_ROLLOUTS ?? 5)

describe.each(MODES)('rolling update under load, termination.drainMode=%s', (mode) => {
  const s = settings()
  const k = kube(s)
  const n = names(s)
  const results = new Results(s.resultsDir, `4-rollout-${mode}`)

  it(`${ROLLOUTS} rollouts of ${REPLICAS} replicas: zero failed requests`, async () => {
    await ensureRelease(k, { 'termination.drainMode': mode })
    const t = await deployedTimings(k)
    results.figure(
      'termination',
      t,
      `drainMode=${mode}: preStop sleep ${t.preStopSeconds} s, DRAIN_DELAY_MS=${t.drainDelayMs}, SHUTDOWN_TIMEOUT_MS=${t.shutdownTimeoutMs}, terminationGracePeriodSeconds=${t.graceSeconds}`,
    )
    const rec = await new Recorder(k, n.service).start()
    const client = await LoadClient.start(k, s, `rollout-client-${mode.toLowerCase()}`)
    const markers: Marker[] = []
    const rows: ({ rollout: number; seconds: number } & Counts)[] = []
    let log
    const began = Date.now()
    try {
      await sleep(5000)
      let prev = await client.mark()
      for (let i = 1; i <= ROLLOUTS; i++) {
        const t0 = Date.now()
        markers.push({ t: t0, label: `rollout ${i}` })
        await k.kubectl(['rollout', 'restart', `deployment/${n.deployment}`])
        await k.kubectl(['rollout', 'status', `deployment/${n.deployment}`, '--timeout=10m'], { timeoutMs: 660_000 })
        // `rollout status` returns once the last new pod is available, while the last old
        // pod may still be draining: the rollout ends when it is gone.
        await rec.until('the old pods gone', () => rec.terminating().length === 0 && rec.serving().length === REPLICAS, 180_000)
        await sleep(2000)
        const m = await client.mark()
        const d = diff(prev.totals, m.totals)
        rows.push({ rollout: i, seconds: (m.t - prev.t) / 1000, ...d })
        results.figure(`rollout${i}`, rows.at(-1), `drainMode=${mode}, rollout ${i} (${((Date.now() - t0) / 1000).toFixed(0)} s): ${describeCounts(d)}`)
        prev = m
      }
    } finally {
      log = await client.stop()
      rec.stop()
    }
    results.attach('clientFailures', log.failures)
    const failures = log.failures.map((f) => `${new Date(f.t).toISOString()} ${f.conn} ${f.kind}${f.reused ? ' (reused socket)' : ''} after ${f.ms} ms: ${f.message}`)
    const total = rows.reduce((a, r) => a + r.ok + r.failed, 0)
    const failed = rows.reduce((a, r) => a + r.failed, 0)
    results.figure('total', { requests: total, failed, failures }, `drainMode=${mode}: ${ROLLOUTS} rollouts, ${total} requests, ${failed} failed${failures.length ? `\n    ${failures.slice(0, 20).join('\n    ')}` : ''}`)
    results.timeline(`rollout-${mode}`, timelineData(`${ROLLOUTS} rollouts of ${REPLICAS} replicas under load, termination.drainMode=${mode}`, rec, began, Date.now(), log.ticks, markers))
    expect(rows.map((r) => r.failed)).toEqual(rows.map(() => 0))
  })
})
