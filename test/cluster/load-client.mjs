// In-cluster load client for the cluster suite (test/cluster). It runs in a pod of the test
// image (node, no other dependency), mounted from a ConfigMap, and sends a steady stream of
// requests through the Service's DNS name, the way other services in the cluster would:
//
//   KEEPALIVE_CLIENTS loops share one pooled http.Agent({ keepAlive: true }): requests reuse
//     connections, so a server that closes an idle connection at the instant a request is sent
//     on it shows up as ECONNRESET on a reused socket;
//   NEWCONN_CLIENTS loops open a new connection per request (agent: false): every request goes
//     through DNS and kube-proxy's endpoint choice again, so a pod that still gets new
//     connections after it stopped listening shows up as ECONNREFUSED;
//   each loop waits INTERVAL_MS between requests; a request that takes longer than TIMEOUT_MS
//   is a failure ("timeout"). Nothing is retried: every failure is counted.
//   Every request's latency (performance.now(), from the call to the end of the answer or the
//   failure) goes into two fixed-size tallies (latency.ts, mounted beside this file): one per
//   second, one per phase between marks.
//
// Output, one JSON object per line on stdout (the suite reads it with `kubectl logs`):
//   {"type":"start",...}                  once the loops run
//   {"type":"tick","t":...,"ok":..,...}   every second: counts since the previous tick, their
//                                         latency {n,p50,p99,max} (ms) and the slowest request
//   {"type":"fail",...}                   one per failed request (the first MAX_FAIL_LINES)
//   {"type":"ready",...}                  READY_URL's answer, every second when READY_URL is set
//   {"type":"mark","n":..,"totals":...}   on SIGUSR2: cumulative counts, to cut a run into phases,
//                                         and the latency of the phase since the previous mark
//   {"type":"end","totals":...}           on SIGTERM, after the requests in flight finished (with
//                                         the last phase's latency)
import http from 'node:http'
import { setTimeout as sleep } from 'node:timers/promises'
import { performance } from 'node:perf_hooks'
import { clearInterval, clearTimeout, setInterval, setTimeout } from 'node:timers'
import { LatencyTally } from './latency.ts'

const env = process.env
const TARGET_URL = env.TARGET_URL ?? 'http://service-template/fixture/db'
const READY_URL = env.READY_URL ?? ''
const KEEPALIVE_CLIENTS = Number(env.KEEPALIVE_CLIENTS ?? 8)
const NEWCONN_CLIENTS = Number(env.NEWCONN_CLIENTS ?? 4)
const INTERVAL_MS = Number(env.INTERVAL_MS ?? 20)
const TIMEOUT_MS = Number(env.TIMEOUT_MS ?? 5000)
const MAX_FAIL_LINES = Number(env.MAX_FAIL_LINES ?? 500)
// A client left behind by an aborted run stops by itself.
const MAX_SECONDS = Number(env.MAX_SECONDS ?? 3600)

const print = (obj) => process.stdout.write(`${JSON.stringify(obj)}\n`)

// A real service client: pooled keep-alive connections, one per concurrent request.
const agent = new http.Agent({ keepAlive: true, maxSockets: KEEPALIVE_CLIENTS })

/** Counters: ok / failed per connection kind, failure kinds, `Connection: close` answers. */
function counters() {
  return { ok: 0, failed: 0, keepalive: { ok: 0, failed: 0, closed: 0 }, newconn: { ok: 0, failed: 0 }, kinds: {} }
}
const totals = counters()
let tick = counters()
let failLines = 0
const tickLatency = new LatencyTally()
const phaseLatency = new LatencyTally()
/** The slowest request of the current second: which kind of connection, and how it ended. */
let slowest

function count(conn, result) {
  tickLatency.record(result.elapsed)
  phaseLatency.record(result.elapsed)
  if (!slowest || result.elapsed > slowest.ms) {
    slowest = { ms: Math.round(result.elapsed * 10) / 10, conn, reused: result.reused, result: result.ok ? 'ok' : result.kind }
  }
  for (const c of [totals, tick]) {
    if (result.ok) {
      c.ok++
      c[conn].ok++
      if (result.closed && conn === 'keepalive') c.keepalive.closed++
    } else {
      c.failed++
      c[conn].failed++
      const key = `${conn} ${result.kind}`
      c.kinds[key] = (c.kinds[key] ?? 0) + 1
    }
  }
  if (!result.ok && failLines++ < MAX_FAIL_LINES) {
    print({ type: 'fail', t: Date.now(), conn, kind: result.kind, message: result.message, reused: result.reused, ms: result.ms })
  }
}

/** One GET; resolves (never rejects) to { ok } or { ok: false, kind, message }. */
function get(url, agentOption) {
  return new Promise((resolve) => {
    const began = performance.now()
    let settled = false
    const done = (result) => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      const elapsed = performance.now() - began
      resolve({ ...result, elapsed, ms: Math.round(elapsed), reused: req.reusedSocket })
    }
    const req = http.get(url, { agent: agentOption }, (res) => {
      // A failed answer's body says which 503 it is: shed ("Service Unavailable", under
      // pressure) or a dependency ("dependency unavailable").
      let body = ''
      res.setEncoding('utf8').on('data', (chunk) => {
        if (res.statusCode !== 200 && body.length < 300) body += chunk
      })
      res.on('error', (err) => done({ ok: false, kind: err.code ?? err.name, message: err.message }))
      res.on('aborted', () => done({ ok: false, kind: 'aborted', message: 'response aborted' }))
      res.on('end', () => {
        const closed = res.headers.connection === 'close'
        if (res.statusCode === 200) return done({ ok: true, closed })
        let message = body.slice(0, 120)
        try {
          message = JSON.parse(body).message ?? message
        } catch {
          /* not JSON: the start of the body */
        }
        done({ ok: false, kind: `HTTP ${res.statusCode}`, message: `${res.statusMessage}: ${message}` })
      })
    })
    const timer = setTimeout(() => {
      done({ ok: false, kind: 'timeout', message: `no answer within ${TIMEOUT_MS} ms` })
      req.destroy()
    }, TIMEOUT_MS)
    req.on('error', (err) => done({ ok: false, kind: err.code ?? err.name, message: err.message }))
  })
}

let stopping = false
async function loop(conn) {
  const agentOption = conn === 'keepalive' ? agent : false
  while (!stopping) {
    count(conn, await get(TARGET_URL, agentOption))
    await sleep(INTERVAL_MS)
  }
}

async function pollReady() {
  while (!stopping) {
    const began = Date.now()
    await new Promise((resolve) => {
      const req = http.get(READY_URL, { agent: false, timeout: TIMEOUT_MS }, (res) => {
        let body = ''
        res.setEncoding('utf8')
        res.on('data', (chunk) => (body += chunk))
        res.on('end', () => {
          let degraded
          try {
            degraded = JSON.parse(body).degraded === true
          } catch {
            degraded = undefined
          }
          print({ type: 'ready', t: Date.now(), status: res.statusCode, degraded })
          resolve()
        })
      })
      req.on('timeout', () => req.destroy(new Error('timeout')))
      req.on('error', (err) => {
        print({ type: 'ready', t: Date.now(), status: 0, error: err.code ?? err.message })
        resolve()
      })
    })
    await sleep(Math.max(0, 1000 - (Date.now() - began)))
  }
}

function printTick() {
  print({ type: 'tick', t: Date.now(), ...tick, latency: tickLatency.take(), slowest })
  tick = counters()
  slowest = undefined
}
const ticker = setInterval(printTick, 1000)

let marks = 0
process.on('SIGUSR2', () => print({ type: 'mark', n: ++marks, t: Date.now(), totals, latency: phaseLatency.take() }))

const loops = [
  ...Array.from({ length: KEEPALIVE_CLIENTS }, () => loop('keepalive')),
  ...Array.from({ length: NEWCONN_CLIENTS }, () => loop('newconn')),
  ...(READY_URL ? [pollReady()] : []),
]

async function stop(reason) {
  if (stopping) return
  stopping = true
  await Promise.all(loops)
  clearInterval(ticker)
  printTick()
  print({ type: 'end', t: Date.now(), reason, totals, latency: phaseLatency.take() })
  agent.destroy()
  process.exit(0)
}
process.on('SIGTERM', () => void stop('SIGTERM'))
setTimeout(() => void stop('MAX_SECONDS'), MAX_SECONDS * 1000).unref()

print({ type: 'start', t: Date.now(), target: TARGET_URL, keepalive: KEEPALIVE_CLIENTS, newconn: NEWCONN_CLIENTS, intervalMs: INTERVAL_MS, timeoutMs: TIMEOUT_MS })
