// 3. Dependency outages, with an in-cluster client sending GET /fixture/db (a Postgres
// query through the pool) through the Service the whole time:
//   Redis scaled to 0: Redis is a cache, not critical for readiness: every pod stays in the
//     endpoints, /fixture/db keeps answering, /ready answers 200 with `degraded: true`; and a
//     rolling update while it is at 0 completes (new pods start without the cache) with no
//     failed request;
//   a spike (the fixture's advisory lock held, GET /fixture/locked waiting on it: every pod's
//     pool taken, requests queued) while Postgres is healthy: readiness has its own
//     connection, so no pod leaves the endpoints;
//   Postgres scaled to 0 for at least 60 s: every pod leaves the EndpointSlice within the
//     readiness budget, none restarts (liveness does not look at Postgres), `kubectl describe`
//     shows the readiness failure, the app's log says why, and all pods return once Postgres is back.
import { setTimeout as sleep } from 'node:timers/promises'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { FIXTURE_LOCK_KEY } from '../fixtures/routes.js'
import { describeLatency } from './latency.js'
import { diff, LoadClient, type ClientLog } from './load.js'
import { Results } from './results.js'
import { appPods, deployedTimings, ensureRelease, failureBudgetSeconds, kube, names, probeCounts, settings } from './release.js'
import { timelineData, type Marker } from './timeline.js'
import { Recorder } from './watch.js'

/** Allowance on top of a probe budget: kubelet status sync, endpoint controller, the app's 1 s readiness cache. */
const SLACK_SECONDS = 5
const POSTGRES_OUTAGE_SECONDS = 60
const CLIENT_TIMEOUT_MS = 5000
/** The spike: how long the fixture's advisory lock is held. */
const LOCK_SECONDS = 20
// Run in an app pod (its image has node and pg, its env the DATABASE_URL). A session-level
// advisory lock on FIXTURE_LOCK_KEY (a bigint key), which every GET /fixture/locked waits on.
const connect = "import pg from 'pg'; const c = new pg.Client({ connectionString: process.env.DATABASE_URL }); await c.connect(); "
const HOLD_LOCK =
  connect +
  `await c.query('SELECT pg_advisory_lock($1::bigint)', ['${FIXTURE_LOCK_KEY}']); ` +
  `await new Promise((r) => setTimeout(r, ${LOCK_SECONDS * 1000})); await c.query('SELECT pg_advisory_unlock($1::bigint)', ['${FIXTURE_LOCK_KEY}']); await c.end()`
// pg_locks shows a bigint advisory key as classid (high 32 bits) and objid (low 32 bits), objsubid 1.
const COUNT_LOCK_WAITS =
  connect +
  "const { rows } = await c.query(`SELECT count(*)::int AS n FROM pg_locks WHERE locktype = 'advisory' AND objsubid = 1 " +
  `AND ((classid::bigint << 32) | objid::bigint) = $1::bigint AND NOT granted\`, ['${FIXTURE_LOCK_KEY}']); ` +
  'console.log(rows[0].n); await c.end()'

describe('dependency outages', () => {
  const s = settings()
  const k = kube(s)
  const n = names(s)
  const results = new Results(s.resultsDir, '3-outage')
  const markers: Marker[] = []
  let rec: Recorder
  let client: LoadClient
  let began: number
  let timings: Awaited<ReturnType<typeof deployedTimings>>
  const mark = (label: string) => markers.push({ t: Date.now(), label })

  beforeAll(async () => {
    await ensureRelease(k)
    timings = await deployedTimings(k)
    rec = await new Recorder(k, n.service).start()
    client = await LoadClient.start(k, s, 'outage-client', { pollReady: true, timeoutMs: CLIENT_TIMEOUT_MS })
    began = Date.now()
    await sleep(5000)
  })

  afterAll(async () => {
    let log: ClientLog | undefined
    if (client) log = await client.stop()
    if (log) results.attach('clientFailures', log.failures)
    if (rec && log) {
      results.timeline('outage', timelineData('Redis and Postgres outages under load (GET /fixture/db through the Service)', rec, began, Date.now(), log.ticks, markers, ['server', 'dev-dependency']))
    }
    rec?.stop()
  })

  it('Redis outage: pods stay in the endpoints, the API keeps answering, /ready reports degraded; a rollout during it completes with no failed request', async () => {
    const pods = await appPods(k)
    const before = await client.mark()
    const t0 = Date.now()
    mark('Redis scaled to 0')
    await k.kubectl(['scale', `deployment/${n.redis}`, '--replicas=0'])
    const hold = Math.max(30, 2 * (failureBudgetSeconds(timings.readiness) + SLACK_SECONDS))
    await rec.until('Redis pod gone', () => rec.current('dev-dependency').size === 1, 60_000)
    await sleep(Math.max(0, t0 + hold * 1000 - Date.now()))
    const during = diff(before.totals, (await client.mark()).totals)
    const t1 = Date.now()
    const left = pods.filter((p) => (rec.endpointChange(p.metadata.name, false, t0) ?? Infinity) < t1)
    const ready = (await client.log()).ready.filter((r) => r.t > t0 + 15_000 && r.t < t1)

    // A rolling update while Redis is still at 0: new pods must become ready without the
    // cache (startup gates on Postgres only), or the rollout stalls until their startup
    // probes kill them, over and over.
    const rollStart = await client.mark()
    mark('rollout, Redis at 0')
    await k.kubectl(['rollout', 'restart', `deployment/${n.deployment}`])
    await k.kubectl(['rollout', 'status', `deployment/${n.deployment}`, '--timeout=5m'], { timeoutMs: 330_000 })
    await rec.until('the old pods gone', () => rec.terminating().length === 0 && pods.every((p) => !rec.current().has(p.metadata.name)), 180_000)
    await sleep(2000)
    const rolledMark = await client.mark()
    const rolled = diff(rollStart.totals, rolledMark.totals)
    const rollSeconds = (Date.now() - rollStart.t) / 1000
    const newPods = await appPods(k)
    results.figure(
      'rolloutWithRedisDown',
      { seconds: rollSeconds, requests: rolled, latency: rolledMark.latency, newPods: newPods.length },
      `rollout restart with Redis at 0: done in ${rollSeconds.toFixed(0)} s, ${newPods.length} new pods ready without the cache; ` +
        `${rolled.ok + rolled.failed} requests, ${rolled.failed} failed${rolled.failed ? ` (${Object.entries(rolled.kinds).map(([kind, c]) => `${kind} ${c}`).join(', ')})` : ''}; ` +
        describeLatency(rolledMark.latency),
    )
    expect(newPods.map((p) => p.metadata.name).filter((name) => pods.some((old) => old.metadata.name === name))).toEqual([])
    expect(rolled.failed).toBe(0)

    mark('Redis back')
    await k.kubectl(['scale', `deployment/${n.redis}`, '--replicas=1'])
    await k.kubectl(['rollout', 'status', `deployment/${n.redis}`, '--timeout=3m'], { timeoutMs: 200_000 })

    results.figure(
      'redisOutage',
      { holdSeconds: hold, requests: during, podsThatLeftEndpoints: left.length, readyPolls: ready.length },
      `Redis outage of ${hold} s: ${during.ok + during.failed} requests to /fixture/db, ${during.failed} failed; ` +
        `${left.length} of ${pods.length} pods left the endpoints; /ready polled ${ready.length}x after 15 s: ` +
        `${ready.filter((r) => r.status === 200 && r.degraded === true).length}x 200 degraded`,
    )
    expect(left.map((p) => p.metadata.name)).toEqual([])
    expect(during.failed).toBe(0)
    expect(ready.length).toBeGreaterThan(0)
    expect(ready.every((r) => r.status === 200 && r.degraded === true)).toBe(true)
    // And it recovers: the cache is used again.
    const recovered = Date.now()
    const polls = async () => (await client.log()).ready.filter((r) => r.t > recovered)
    for (let i = 0; i < 60 && !(await polls()).some((r) => r.status === 200 && r.degraded === false); i++) await sleep(1000)
    expect((await polls()).some((r) => r.status === 200 && r.degraded === false)).toBe(true)
  })

  it(`Postgres outage of ${POSTGRES_OUTAGE_SECONDS} s: pods leave the endpoints within the readiness budget, none restarts, all return`, async () => {
    const pods = (await appPods(k)).map((p) => p.metadata.name)
    const restartsBefore = new Map(pods.map((p) => [p, rec.current().get(p)?.restarts ?? -1]))
    const budget = failureBudgetSeconds(timings.readiness)
    const before = await client.mark()
    const t0 = Date.now()
    mark('Postgres scaled to 0')
    await k.kubectl(['scale', `deployment/${n.postgres}`, '--replicas=0'])
    await rec.until('every app pod out of the endpoints', () => pods.every((p) => !rec.inEndpoints(p)), (budget + 60) * 1000)
    const leave = pods.map((p) => ({ pod: p, s: (rec.endpointChange(p, false, t0)! - t0) / 1000 }))
    results.figure(
      'postgresLeaveSeconds',
      leave,
      `Postgres scaled to 0: pods left the endpoints after ${leave.map((l) => `${l.s.toFixed(1)} s`).join(', ')} ` +
        `(readiness budget ${timings.readiness.periodSeconds} s x ${timings.readiness.failureThreshold} + ${timings.readiness.timeoutSeconds} s = ${budget} s, + ${SLACK_SECONDS} s slack)`,
    )
    for (const l of leave) expect(l.s, l.pod).toBeLessThanOrEqual(budget + SLACK_SECONDS)

    await sleep(Math.max(0, t0 + POSTGRES_OUTAGE_SECONDS * 1000 - Date.now()))
    // Still out, not restarted, and the kubelet says why.
    const restarts = pods.map((p) => rec.current().get(p)?.restarts)
    expect(restarts).toEqual(pods.map((p) => restartsBefore.get(p)))
    // The kubelet's counters: readiness failing, liveness never (it does not look at Postgres).
    const counts = await probeCounts(k, pods.map((p) => rec.current().get(p)?.node ?? ''))
    const probes = pods.map((p) => ({ readinessFailed: counts.get(p)?.Readiness.failed ?? 0, livenessFailed: counts.get(p)?.Liveness.failed ?? 0 }))
    results.figure('postgresProbeCounts', probes, `kubelet probe counters after ${POSTGRES_OUTAGE_SECONDS} s: ${probes.map((p) => `readiness ${p.readinessFailed} failed, liveness ${p.livenessFailed} failed`).join('; ')}`)
    expect(probes.map((p) => p.livenessFailed)).toEqual(pods.map(() => 0))
    expect(probes.every((p) => p.readinessFailed >= timings.readiness.failureThreshold)).toBe(true)
    expect(pods.filter((p) => rec.inEndpoints(p))).toEqual([])
    const describe = await k.kubectl(['describe', 'pod', pods[0]!])
    const probeLine = describe.split('\n').find((l) => l.includes('Readiness probe failed'))
    expect(probeLine).toMatch(/Readiness probe failed: HTTP probe failed with statuscode: 503/)
    expect(describe).not.toMatch(/Liveness probe failed/)
    const appLog = await k.kubectl(['logs', pods[0]!, '--since=120s'])
    const reason = appLog.split('\n').find((l) => l.includes('readiness: not ready'))
    expect(reason).toMatch(/postgres/)
    results.figure('postgresDescribe', { probeLine: probeLine?.trim(), appLog: reason }, `kubectl describe: "${probeLine?.trim().replace(/\s+/g, ' ')}"; app log: ${reason}`)

    const during = diff(before.totals, (await client.mark()).totals)
    const t1 = Date.now()
    mark('Postgres back')
    await k.kubectl(['scale', `deployment/${n.postgres}`, '--replicas=1'])
    const pgReady = await rec.until('Postgres ready', () => [...rec.current('dev-dependency')].some(([name, p]) => name.startsWith(n.postgres) && p.ready && !p.deleting), 180_000)
    // The dev Postgres keeps its data on an emptyDir, so the new pod starts with an empty
    // database: restore the schema with the fixture server's migrations (the service's, then
    // the fixture's), as a real database would still have it, so the routes answer again
    // instead of "relation does not exist".
    const migrated = await k.exec(pods[0]!, ['node', 'test/fixtures/migrate-job.ts'])
    expect(migrated.code, migrated.stderr).toBe(0)
    await rec.until('every app pod back in the endpoints', () => pods.every((p) => rec.inEndpoints(p)), 120_000)
    mark('all pods back')
    const back = pods.map((p) => ({ pod: p, s: (rec.endpointChange(p, true, t1)! - pgReady) / 1000 }))
    const returnBudget = timings.readiness.periodSeconds * timings.readiness.successThreshold + timings.readiness.timeoutSeconds
    results.figure(
      'postgresReturnSeconds',
      { fromScaleUp: (pgReady - t1) / 1000, back },
      `Postgres Ready ${((pgReady - t1) / 1000).toFixed(1)} s after scale-up; pods back in the endpoints ${back.map((b) => `${b.s.toFixed(1)} s`).join(', ')} after that ` +
        `(budget ${timings.readiness.periodSeconds} s x ${timings.readiness.successThreshold} + ${timings.readiness.timeoutSeconds} s = ${returnBudget} s, + ${SLACK_SECONDS} s slack); ` +
        `during the outage ${during.ok} requests ok, ${during.failed} failed (${Object.entries(during.kinds).map(([kind, c]) => `${kind} ${c}`).join(', ')})`,
    )
    for (const b of back) expect(b.s, b.pod).toBeLessThanOrEqual(returnBudget + SLACK_SECONDS)
    expect(pods.map((p) => rec.current().get(p)?.restarts)).toEqual(pods.map((p) => restartsBefore.get(p)))

    // What the 5xx answers during the outage were, from the app's own log.
    const errors: Record<string, number> = {}
    for (const p of pods) {
      for (const line of (await k.kubectl(['logs', p, '--since=10m'])).split('\n')) {
        if (!line.includes('"request failed"')) continue
        const err = (JSON.parse(line) as { err?: { code?: string; message?: string } }).err
        const key = `${err?.code ?? '-'}: ${err?.message ?? '?'}`
        errors[key] = (errors[key] ?? 0) + 1
      }
    }
    results.figure('postgresOutageErrors', errors, `app log, "request failed" (5xx) during the outage: ${Object.entries(errors).map(([e, c]) => `${e} x${c}`).join('; ') || 'none'}`)
    // The endpoint contract: a dependency that cannot be reached is 503 + Retry-After, never 500.
    expect(Object.keys(during.kinds).filter((kind) => kind.endsWith('HTTP 500'))).toEqual([])

    // The API answers again, with no failures once every pod is back. A request sent during
    // the outage may still be waiting for its connection: it fails (and is counted) when
    // its timeout ends, so the check starts one client timeout later.
    await sleep(CLIENT_TIMEOUT_MS + 1000)
    const after = await client.mark()
    await sleep(5000)
    const tail = diff(after.totals, (await client.mark()).totals)
    expect(tail.failed).toBe(0)
    expect(tail.ok).toBeGreaterThan(0)
  })
  it('a spike that holds every pooled connection while Postgres is healthy: every pod stays in the endpoints', async () => {
    const pods = (await appPods(k)).map((p) => p.metadata.name)
    const timeline = await deployedTimings(k)
    const poolMax = Number((await k.json<{ data: Record<string, string> }>(['get', 'configmap', n.deployment])).data.PG_POOL_MAX)
    // 15 requests in flight per pod, each waiting on a held advisory lock: each pod's pool
    // (PG_POOL_MAX - 1) is taken and the rest queue, as in a spike of slow queries.
    // Readiness has its own connection: it must not wait in that queue.
    const spike = await LoadClient.start(k, s, 'spike-client', { path: '/fixture/locked', keepAliveClients: 15 * pods.length, newConnClients: 0, intervalMs: 0, timeoutMs: CLIENT_TIMEOUT_MS })
    const t0 = Date.now()
    mark('fixture lock held (spike)')
    const locking = k.exec(pods[0]!, ['node', '--input-type=module', '-e', HOLD_LOCK], 120_000)
    let waiting: number
    try {
      // Counted before PG_QUERY_TIMEOUT_MS (5 s) cancels the first waiting queries.
      await sleep(3500)
      const counted = await k.exec(pods[1] ?? pods[0]!, ['node', '--input-type=module', '-e', COUNT_LOCK_WAITS])
      expect(counted.code, counted.stderr).toBe(0)
      waiting = Number(counted.stdout.trim())
      await sleep(Math.max(0, t0 + LOCK_SECONDS * 1000 - Date.now()))
    } finally {
      const locked = await locking
      expect(locked.code, locked.stderr).toBe(0)
      mark('fixture lock released')
      await spike.stop()
    }
    const left = pods.filter((p) => rec.endpointChange(p, false, t0) !== undefined)
    results.figure(
      'spike',
      { lockSeconds: LOCK_SECONDS, queriesWaiting: waiting, pooledConnections: pods.length * (poolMax - 1), podsThatLeftEndpoints: left.length, pods: pods.length },
      `spike (advisory lock held ${LOCK_SECONDS} s, ${15 * pods.length} requests to /fixture/locked in flight): ${waiting} queries waiting on the lock ` +
        `(every pooled connection of ${pods.length} pods x (PG_POOL_MAX ${poolMax} - 1)), ` +
        `${left.length} of ${pods.length} pods left the endpoints (readiness budget ${failureBudgetSeconds(timeline.readiness)} s)`,
    )
    // Every pod's pool was saturated: each of its connections waits on the lock.
    expect(waiting).toBe(pods.length * (poolMax - 1))
    expect(left).toEqual([])
  })
})
