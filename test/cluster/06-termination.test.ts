// 6. The termination arithmetic: with a short closeTimeoutSeconds, a request that outlives
// it at SIGTERM must end with the app's own deadline (it logs which step hung and exits 1),
// never with the kubelet's SIGKILL at terminationGracePeriodSeconds (exit 137, no log).
// The grace period is the smallest the chart accepts for these values, so the margin
// between the app's deadline and the SIGKILL is the chart's own safety margin.
import { spawn } from 'node:child_process'
import { describe, expect, it } from 'vitest'
import { chartDir, minikubeValues } from '../chart/helm.js'
import { command } from './kube.js'
import { helperPod, waitForPodRunning } from './load.js'
import { Results } from './results.js'
import { appPods, deployedTimings, ensureRelease, kube, names, settings } from './release.js'
import { Recorder } from './watch.js'

const MODES = ['preStop', 'app'] as const
// preStop mode: 1 s preStop sleep, then 1 s drain in the app; app mode: 2 s drain in the app.
const TERMINATION = { 'termination.drainSeconds': 2, 'termination.appDrainSeconds': 1, 'termination.closeTimeoutSeconds': 2, 'termination.safetyMarginSeconds': 2 }
// Longer than the whole shutdown (drain + closeTimeoutSeconds), so the app's deadline cuts it.
const SLOW_MS = 9000

/** The smallest terminationGracePeriodSeconds the chart renders for these values (from its own error). */
async function minimalGrace(helm: string, mode: string): Promise<number> {
  const sets = Object.entries({ ...TERMINATION, 'termination.drainMode': mode, terminationGracePeriodSeconds: 1 }).flatMap(([k, v]) => ['--set', `${k}=${v}`])
  const r = await command(helm, ['template', 'x', chartDir, '--values', minikubeValues, ...sets])
  const m = /at least (\d+)/.exec(r.stderr)
  if (r.code === 0 || !m) throw new Error(`expected the chart to refuse a 1 s grace period: ${r.stderr || r.stdout.slice(0, 500)}`)
  return Number(m[1])
}

describe.each(MODES)('termination arithmetic, drainMode=%s', (mode) => {
  const s = settings()
  const k = kube(s)
  const results = new Results(s.resultsDir, `7-termination-${mode}`)

  it(`a request outliving closeTimeoutSeconds ends with the app's deadline (exit 1), not SIGKILL (137)`, async () => {
    const grace = await minimalGrace(s.helm, mode)
    await ensureRelease(k, { ...TERMINATION, 'termination.drainMode': mode, terminationGracePeriodSeconds: grace, replicaCount: 1 })
    const t = await deployedTimings(k)
    const rec = await new Recorder(k, names(s).service).start()
    const client = `slow-client-${mode.toLowerCase()}`
    let logs: ReturnType<typeof spawn> | undefined
    try {
      await k.tryKubectl(['delete', 'pod', client, '--ignore-not-found', '--wait=true'])
      await k.apply(helperPod(s, client, { command: ['node', '-e', 'setInterval(() => {}, 1 << 30)'] }))
      await waitForPodRunning(k, client)
      const [pod] = await appPods(k)
      if (!pod?.status.podIP) throw new Error('no app pod with an IP')
      const name = pod.metadata.name

      // The pod's log, streamed while it terminates (it is gone with the pod afterwards).
      let log = ''
      logs = spawn('kubectl', ['--context', s.context, '-n', s.namespace, 'logs', '-f', name])
      logs.stdout?.setEncoding('utf8').on('data', (d: string) => (log += d))

      // A request straight to the pod (not through the Service), so it is the one terminating.
      const url = `http://${pod.status.podIP}:8000/fixture/slow?ms=${SLOW_MS}`
      const slow = k.exec(
        client,
        ['node', '-e', `const t=Date.now();fetch(${JSON.stringify(url)}).then(async r=>{await r.text();console.log('status '+r.status+' after '+(Date.now()-t)+' ms')},e=>console.log('failed after '+(Date.now()-t)+' ms: '+(e.cause?.code??e.message)))`],
        60_000,
      )
      await new Promise((r) => setTimeout(r, 1500))
      const t0 = Date.now()
      await k.kubectl(['delete', 'pod', name, '--wait=false'])
      const exitedAt = await rec.until(`${name}'s container terminated`, () => rec.pods.get(name)?.samples.some((x) => x.terminated) === true, (grace + 30) * 1000)
      const terminated = rec.pods.get(name)?.samples.find((x) => x.terminated)?.terminated
      const answer = (await slow).stdout.trim()
      await new Promise((r) => setTimeout(r, 500))
      const deadline = log.split('\n').find((l) => l.includes('deadline exceeded'))
      // finishedAt has a resolution of one second; the watch sees the status a moment later.
      const exitS = (Date.parse(terminated?.finishedAt ?? '') - t0) / 1000
      const seenS = (exitedAt - t0) / 1000
      results.figure(
        'exit',
        { grace, timings: t, exitS, seenS, terminated, deadline, answer },
        `drainMode=${mode}, preStop ${t.preStopSeconds} s, DRAIN_DELAY_MS=${t.drainDelayMs}, SHUTDOWN_TIMEOUT_MS=${t.shutdownTimeoutMs}, grace ${grace} s: ` +
          `GET /fixture/slow?ms=${SLOW_MS} in flight at deletion -> container exit code ${terminated?.exitCode} (${terminated?.reason}) at ~${exitS.toFixed(1)} s after the deletion (finishedAt; status seen at ${seenS.toFixed(1)} s); ` +
          `log: ${deadline ?? 'no "deadline exceeded" line'}; the request: ${answer}`,
      )
      expect(terminated?.exitCode).toBe(1)
      expect(deadline).toMatch(/shutdown: deadline exceeded/)
      expect(exitS).toBeLessThan(grace)
      // The request outlived the deadline: it was cut, not answered.
      expect(answer).toMatch(/^failed/)
    } finally {
      logs?.kill()
      rec.stop()
      await k.tryKubectl(['delete', 'pod', client, '--ignore-not-found', '--wait=false'])
    }
  })
})
