// 2. Startup gating: a fresh install whose Postgres arrives 60 s late (its image is held
// back: an image that is never pulled, then `helm upgrade` with the real one). The app pods
// must wait in the startup probe (listening, /startup 503, retrying the connection), then
// become Ready once Postgres is there, without a restart; the kubelet's events must show
// startup-probe failures only: readiness and liveness do not run before startup passed.
// Runs in its own namespace, on a release of its own.
import { setTimeout as sleep } from 'node:timers/promises'
import { describe, expect, it } from 'vitest'
import { Results } from './results.js'
import { deployedTimings, ensureRelease, kube, names, probeCounts, REPLICAS, settings } from './release.js'
import { timelineData, type Marker } from './timeline.js'
import { Recorder } from './watch.js'

const HOLD_SECONDS = 60
/** An image reference that no cluster has and that is never pulled (pullPolicy Never). */
const HELD_BACK_IMAGE = 'postgres-held-back.invalid/postgres:never'
/** The app's connection retry backoff is capped at 5 s (src/backoff.ts reconnectDelay). */
const RETRY_CAP_SECONDS = 5
const SLACK_SECONDS = 5

describe('startup gating', () => {
  const s = settings()
  const k = kube(s, s.gatingNamespace)
  const n = names(s)
  const results = new Results(s.resultsDir, '2-gating')

  it(`app pods wait for a Postgres that arrives ${HOLD_SECONDS} s late, then become Ready without a restart`, async () => {
    const rec = await new Recorder(k, n.service).start()
    const markers: Marker[] = []
    const t0 = Date.now()
    markers.push({ t: t0, label: 'helm install, Postgres held back' })
    try {
      await ensureRelease(k, { 'devDependencies.postgres.image': HELD_BACK_IMAGE, 'devDependencies.postgres.pullPolicy': 'Never' }, { wait: false, settings: s })
      const t = await deployedTimings(k, s)
      await rec.until(`${REPLICAS} app pods running`, () => [...rec.current('server').values()].filter((p) => p.phase === 'Running').length === REPLICAS, 180_000)
      await sleep(Math.max(0, t0 + HOLD_SECONDS * 1000 - Date.now()))

      // Held: running, listening, not started, not ready, not restarted.
      const held = rec.current('server')
      const pods = [...held.keys()]
      expect([...held.values()].map((p) => ({ phase: p.phase, started: p.started, ready: p.ready, restarts: p.restarts }))).toEqual(
        pods.map(() => ({ phase: 'Running', started: false, ready: false, restarts: 0 })),
      )
      expect([...rec.current('dev-dependency')].filter(([name, p]) => name.startsWith(n.postgres) && p.ready)).toEqual([])
      // The kubelet's own counters: only the startup probe has run so far, and failed.
      const nodes = [...held.values()].map((p) => p.node ?? '')
      const heldCounts = await probeCounts(k, nodes)
      const whileHeld = pods.map((p) => heldCounts.get(p))
      expect(whileHeld.map((c) => ({ startupFailed: (c?.Startup.failed ?? 0) > 0, startupOk: c?.Startup.successful ?? 0, readiness: (c?.Readiness.failed ?? 0) + (c?.Readiness.successful ?? 0), liveness: (c?.Liveness.failed ?? 0) + (c?.Liveness.successful ?? 0) }))).toEqual(
        pods.map(() => ({ startupFailed: true, startupOk: 0, readiness: 0, liveness: 0 })),
      )

      const t1 = Date.now()
      markers.push({ t: t1, label: 'Postgres released (helm upgrade)' })
      await ensureRelease(k, {}, { wait: false, settings: s })
      const pgReady = await rec.until('Postgres ready', () => [...rec.current('dev-dependency')].some(([name, p]) => name.startsWith(n.postgres) && p.ready && !p.deleting), 300_000)
      markers.push({ t: pgReady, label: 'Postgres Ready' })
      const allReady = await rec.until('every app pod Ready', () => pods.every((p) => rec.current().get(p)?.ready === true), 180_000)
      markers.push({ t: allReady, label: 'app pods Ready' })
      await sleep(3000)

      const now = rec.current('server')
      const finalCounts = await probeCounts(k, nodes)
      const probes = pods.map((p) => ({ pod: p, ...finalCounts.get(p) }))
      const readyAfter = pods.map((p) => ({ pod: p, s: ((rec.pods.get(p)?.samples.find((x) => x.ready)?.t ?? NaN) - pgReady) / 1000 }))
      const events = rec.probeEvents.filter((e) => pods.includes(e.pod) && e.reason === 'Unhealthy')
      const byKind = (prefix: string) => events.filter((e) => e.message.startsWith(prefix)).reduce((a, e) => a + e.occurrences, 0)
      const startupFailures = byKind('Startup probe failed')
      const budget = RETRY_CAP_SECONDS + t.startup.periodSeconds + t.readiness.periodSeconds + t.readiness.timeoutSeconds
      results.figure(
        'gating',
        { holdSeconds: (t1 - t0) / 1000, postgresReadyAfterRelease: (pgReady - t1) / 1000, readyAfter, startupFailures, events: events.map((e) => e.message), whileHeld, probes },
        `Postgres held back ${((t1 - t0) / 1000).toFixed(0)} s: ${pods.length} app pods Running, not started, 0 restarts; Postgres Ready ${((pgReady - t1) / 1000).toFixed(1)} s after release; ` +
          `app pods Ready ${readyAfter.map((r) => `${r.s.toFixed(1)} s`).join(', ')} after Postgres (bound: retry cap ${RETRY_CAP_SECONDS} s + startup period ${t.startup.periodSeconds} s + ` +
          `readiness period ${t.readiness.periodSeconds} s + timeout ${t.readiness.timeoutSeconds} s = ${budget} s + ${SLACK_SECONDS} s slack), same pods, restartCount 0; ` +
          `kubelet events: ${startupFailures} startup probe failures, ${byKind('Readiness probe failed')} readiness, ${byKind('Liveness probe failed')} liveness ` +
          `(events stop at 25 warnings per pod); kubelet probe counters (prober_probe_total) while held: ` +
          `${whileHeld.map((c) => `startup ${c?.Startup.failed} failed`).join(', ')}, readiness and liveness never run; at the end: ` +
          probes.map((p) => `startup ${p.Startup?.failed}/${p.Startup?.successful}, readiness ${p.Readiness?.failed}/${p.Readiness?.successful}, liveness ${p.Liveness?.failed}/${p.Liveness?.successful} (failed/ok)`).join('; '),
      )
      expect(probes.map((p) => ({ readinessFailed: p.Readiness?.failed, livenessFailed: p.Liveness?.failed }))).toEqual(pods.map(() => ({ readinessFailed: 0, livenessFailed: 0 })))
      expect([...now.keys()].sort()).toEqual([...pods].sort())
      expect([...now.values()].map((p) => p.restarts)).toEqual(pods.map(() => 0))
      for (const r of readyAfter) expect(r.s, r.pod).toBeLessThanOrEqual(budget + SLACK_SECONDS)
      expect(startupFailures).toBeGreaterThan(0)
      expect(events.filter((e) => !e.message.startsWith('Startup probe failed')).map((e) => e.message)).toEqual([])
    } finally {
      results.timeline('gating', timelineData(`Startup gating: Postgres arrives ${HOLD_SECONDS} s after the install`, rec, t0, Date.now(), [], markers, ['server', 'dev-dependency']))
      rec.stop()
    }
  })
})
