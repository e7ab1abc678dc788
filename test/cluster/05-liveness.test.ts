// 5. Liveness for real: the app's process is frozen (SIGSTOP). Readiness must take the pod
// out of the endpoints first (within its budget), then the kubelet's liveness probe must
// restart the container (within the liveness budget plus the termination grace period the
// kubelet grants before SIGKILL).
//
// How the process is frozen, on any cluster: a helper pod on the same node with hostPID
// (the host's process list) running as the app's uid 1000 (so no capability is needed to
// signal it) finds the container's main process through its cgroup (every runtime names
// the container's cgroup after the container ID) and sends SIGSTOP. The signal has to come
// from outside the container: inside its PID namespace node is PID 1, which the kernel
// shields from SIGSTOP sent by its own namespace. The namespace must admit a hostPID pod
// (Pod Security "privileged", the default where no policy is enforced).
import { setTimeout as sleep } from 'node:timers/promises'
import { afterAll, describe, expect, it } from 'vitest'
import { helperPod, waitForPodRunning } from './load.js'
import { Results } from './results.js'
import { deployedTimings, ensureRelease, failureBudgetSeconds, kube, names, probeCounts, settings } from './release.js'
import { timelineData, type Marker } from './timeline.js'
import { Recorder } from './watch.js'

const SLACK_SECONDS = 10

/** node -e script: `<containerID> [signal]` -> {pid, name, state} of the container's main process. */
const SIGNAL_CONTAINER = `
const fs = require('fs')
const [cid, sig] = process.argv.slice(1)
const read = (p, f) => { try { return fs.readFileSync('/proc/' + p + '/' + f, 'utf8') } catch { return '' } }
const field = (p, f) => (new RegExp('^' + f + ':\\\\s+(.*)$', 'm').exec(read(p, 'status')) || [])[1]
const procs = fs.readdirSync('/proc').filter((d) => /^[0-9]+$/.test(d) && read(d, 'cgroup').includes(cid))
const main = procs.filter((p) => !procs.includes(field(p, 'PPid')))
if (main.length !== 1) { console.error('container ' + cid + ': expected one main process, found ' + JSON.stringify(main) + ' of ' + JSON.stringify(procs)); process.exit(2) }
if (sig) process.kill(Number(main[0]), sig)
console.log(JSON.stringify({ pid: Number(main[0]), name: read(main[0], 'cmdline').split('\\0').join(' ').trim(), state: field(main[0], 'State') }))
`

describe('liveness: a frozen process', () => {
  const s = settings()
  const k = kube(s)
  const n = names(s)
  const results = new Results(s.resultsDir, '6-liveness')
  const freezer = 'freezer'
  let frozen: string | undefined

  afterAll(async () => {
    // Never leave a stopped process behind (it is normally gone: SIGKILLed by the kubelet).
    if (frozen) await k.exec(freezer, ['node', '-e', SIGNAL_CONTAINER, frozen, 'SIGCONT'])
    await k.tryKubectl(['delete', 'pod', freezer, '--ignore-not-found', '--wait=false'])
  })

  it('takes a frozen pod out of the endpoints by readiness, then the kubelet restarts it', async () => {
    await ensureRelease(k)
    const t = await deployedTimings(k)
    const rec = await new Recorder(k, n.service).start()
    const markers: Marker[] = []
    const began = Date.now()
    try {
      const target = rec.serving()[0]
      const sample = target ? rec.current().get(target) : undefined
      if (!target || !sample?.containerID || !sample.node) throw new Error(`no serving app pod with a container ID:\n${rec.describe()}`)
      const cid = sample.containerID
      await k.tryKubectl(['delete', 'pod', freezer, '--ignore-not-found', '--wait=true'])
      await k.apply(helperPod(s, freezer, { command: ['node', '-e', 'setInterval(() => {}, 1 << 30)'] }, { hostPID: true, nodeName: sample.node }))
      await waitForPodRunning(k, freezer)

      const t0 = Date.now()
      markers.push({ t: t0, label: `SIGSTOP ${target}` })
      const stop = await k.exec(freezer, ['node', '-e', SIGNAL_CONTAINER, cid, 'SIGSTOP'])
      expect(stop.code, stop.stderr).toBe(0)
      frozen = cid
      await sleep(500)
      const proc = JSON.parse((await k.exec(freezer, ['node', '-e', SIGNAL_CONTAINER, cid])).stdout) as { pid: number; name: string; state: string }
      expect(proc.state).toMatch(/^T/)

      const readinessBudget = failureBudgetSeconds(t.readiness)
      const unready = await rec.until(`${target} out of the endpoints`, () => !rec.inEndpoints(target), (readinessBudget + SLACK_SECONDS + 60) * 1000)
      markers.push({ t: unready, label: 'out of the endpoints' })
      const livenessBudget = failureBudgetSeconds(t.liveness)
      // The probe's own grace (livenessProbe.terminationGracePeriodSeconds), not the pod's,
      // which is sized for a graceful drain: a stuck process does not drain.
      const livenessGrace = t.liveness.terminationGracePeriodSeconds ?? t.graceSeconds
      expect(livenessGrace).toBeLessThan(t.graceSeconds)
      const restartBudget = livenessBudget + livenessGrace
      const restarted = await rec.until(`${target} restarted`, () => (rec.current().get(target)?.restarts ?? 0) > sample.restarts, (restartBudget + SLACK_SECONDS + 120) * 1000)
      frozen = undefined
      markers.push({ t: restarted, label: 'container restarted' })
      const killing = rec.probeEvents.find((e) => e.pod === target && e.reason === 'Killing' && e.t >= t0)
      const liveFailures = (await probeCounts(k, [sample.node])).get(target)?.Liveness.failed ?? 0
      const exit = rec.current().get(target)?.lastTerminated
      await rec.until(`${target} back in the endpoints`, () => rec.inEndpoints(target), 180_000)
      markers.push({ t: Date.now(), label: 'back in the endpoints' })
      await sleep(2000)

      const unreadyS = (unready - t0) / 1000
      const killS = killing ? (killing.t - t0) / 1000 : NaN
      const restartS = (restarted - t0) / 1000
      results.figure(
        'freeze',
        { pid: proc.pid, unreadyS, killS, restartS, readinessBudget, livenessBudget, livenessGrace, graceSeconds: t.graceSeconds, liveFailures, exit },
        `SIGSTOP to "${proc.name}" (host PID ${proc.pid}) of ${target}: out of the endpoints after ${unreadyS.toFixed(1)} s ` +
          `(readiness budget ${t.readiness.periodSeconds} x ${t.readiness.failureThreshold} + ${t.readiness.timeoutSeconds} = ${readinessBudget} s + ${SLACK_SECONDS} s slack); ` +
          `kubelet "${killing?.message ?? 'no Killing event seen'}" after ${killS.toFixed(1)} s, ${liveFailures} failed liveness probes (kubelet counter) ` +
          `(liveness budget ${t.liveness.periodSeconds} x ${t.liveness.failureThreshold} + ${t.liveness.timeoutSeconds} = ${livenessBudget} s); ` +
          `container restarted after ${restartS.toFixed(1)} s (budget ${livenessBudget} s + livenessProbe.terminationGracePeriodSeconds ${livenessGrace} s = ${restartBudget} s + ${SLACK_SECONDS} s slack; the pod's grace is ${t.graceSeconds} s), ` +
          `exit code ${exit?.exitCode} (${exit?.reason})`,
      )
      expect(unreadyS).toBeLessThanOrEqual(readinessBudget + SLACK_SECONDS)
      expect(unready).toBeLessThan(restarted)
      expect(killS).toBeLessThanOrEqual(livenessBudget + SLACK_SECONDS)
      expect(liveFailures).toBe(t.liveness.failureThreshold)
      expect(restartS).toBeLessThanOrEqual(restartBudget + SLACK_SECONDS)
      // From the kubelet's kill to the new container: the probe's grace, not the pod's.
      expect(restartS - killS).toBeLessThanOrEqual(livenessGrace + SLACK_SECONDS)
      // A stopped process cannot act on SIGTERM: the kubelet's SIGKILL ends it.
      expect(exit?.exitCode).toBe(137)
    } finally {
      results.timeline('liveness', timelineData('A frozen process (SIGSTOP): readiness takes it out, liveness restarts it', rec, began, Date.now(), [], markers))
      rec.stop()
    }
  })
})
