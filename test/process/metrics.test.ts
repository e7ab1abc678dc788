// The metrics listener of the built server as a real child process: up before the
// service has initialised, scraped through the drain, closed last, and never a reason
// for the shutdown to wait. Configuration errors exit at once, naming METRICS_PORT.
import http from 'node:http'
import { once } from 'node:events'
import { readdir, readFile, readlink } from 'node:fs/promises'
import { connect, createServer } from 'node:net'
import { setTimeout as sleep } from 'node:timers/promises'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { sample, samples } from '../helpers/metrics.js'
import { startServer, type ServerProcess } from '../helpers/server.js'
import { startStack, type Stack } from '../helpers/stack.js'

// Nothing listens on port 1: initialisation retries for as long as the test lets it.
const unreachable = { DATABASE_URL: 'postgres://app:hunter2@127.0.0.1:1/app', REDIS_URL: 'redis://127.0.0.1:1' }

let server: ServerProcess | undefined
afterEach(async () => {
  await server?.stop()
  server = undefined
})

/** One scrape on a keep-alive agent (as Prometheus keeps its connection between scrapes). */
function scrape(url: string, agent: http.Agent | false = false): Promise<string> {
  return new Promise((resolve, reject) => {
    http
      .get(url, { agent }, (res) => {
        let body = ''
        res.setEncoding('utf8').on('data', (c: string) => (body += c))
        res.on('end', () => (res.statusCode === 200 ? resolve(body) : reject(new Error(`scrape answered ${res.statusCode}`))))
      })
      .on('error', reject)
  })
}
/** TCP ports the process listens on (Linux: its socket inodes matched against /proc/net/tcp*). */
async function listeningPorts(pid: number): Promise<number[]> {
  const inodes = new Set<string>()
  for (const fd of await readdir(`/proc/${pid}/fd`)) {
    const target = await readlink(`/proc/${pid}/fd/${fd}`).catch(() => '')
    const m = /^socket:\[(\d+)\]$/.exec(target)
    if (m) inodes.add(m[1]!)
  }
  const ports: number[] = []
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    for (const line of (await readFile(table, 'utf8')).split('\n').slice(1)) {
      const cols = line.trim().split(/\s+/)
      // local_address is ADDR:PORT in hex; state 0A is LISTEN; column 9 is the inode.
      if (cols[3] === '0A' && inodes.has(cols[9]!)) ports.push(parseInt(cols[1]!.split(':')[1]!, 16))
    }
  }
  return ports.sort((a, b) => a - b)
}
const phase = (text: string) => samples(text, 'lifecycle_phase').filter((s) => s.value === 1).map((s) => s.labels.phase)

describe('before initialisation', () => {
  it('the metrics listener answers while the dependencies are unreachable: a slow start can be watched', async () => {
    server = await startServer(unreachable, { waitFor: 'listening' })
    const metricsLine = server.logs.findIndex((l) => l.msg.startsWith('metrics: listening'))
    const publicLine = server.logs.findIndex((l) => l.msg.startsWith('Server listening'))
    expect(metricsLine).toBeGreaterThanOrEqual(0)
    expect(metricsLine).toBeLessThan(publicLine)
    await server.waitForLog((l) => l.msg === 'startup: redis not ready, retrying')
    const first = await scrape(server.metricsUrl)
    expect(phase(first)).toEqual(['starting'])
    expect((await fetch(`${server.url}/startup`)).status).toBe(503)
    await sleep(300)
    const second = await scrape(server.metricsUrl)
    expect(sample(second, 'lifecycle_phase_seconds', { phase: 'starting' })! - sample(first, 'lifecycle_phase_seconds', { phase: 'starting' })!).toBeGreaterThanOrEqual(0.25)
    expect(sample(second, 'redis_connection_state', { state: 'ready' })).toBe(0)
    // Never on the public port.
    expect((await fetch(`${server.url}/metrics`)).status).toBe(404)
  })

  it('two listeners by default; METRICS_PORT=0: the public one only', async () => {
    server = await startServer(unreachable, { waitFor: 'listening' })
    expect(await listeningPorts(server.child.pid!)).toEqual([server.port, Number(new URL(server.metricsUrl).port)].sort((a, b) => a - b))
    await server.stop()
    server = await startServer({ ...unreachable, METRICS_PORT: '0' }, { waitFor: 'listening' })
    expect(await listeningPorts(server.child.pid!)).toEqual([server.port])
    expect(server.logs.some((l) => l.msg.startsWith('metrics:'))).toBe(false)
    expect((await fetch(`${server.url}/metrics`)).status).toBe(404)
  })
})

describe('configuration', () => {
  it.each([
    [{ METRICS_PORT: 'abc' }, 'invalid configuration: METRICS_PORT=abc: expected an integer from 0 to 65535'],
    [{ METRICS_PORT: '70000' }, 'invalid configuration: METRICS_PORT=70000: expected an integer from 0 to 65535'],
    [{ PORT: '8123', METRICS_PORT: '8123' }, 'invalid configuration: METRICS_PORT=8123: must differ from PORT'],
  ])('%o exits 78 naming the variable', async (override, message) => {
    server = await startServer({ ...unreachable, ...override }, { waitFor: 'none' })
    expect((await server.exited).code).toBe(78)
    const lines = server.output().trim().split('\n')
    expect(lines).toHaveLength(1)
    expect(lines[0]).toContain(message)
  })

  it('a METRICS_PORT in use: exit 1 at once, one line saying which listener', async () => {
    const taken = createServer().listen(0, '127.0.0.1')
    await once(taken, 'listening')
    const { port } = taken.address() as { port: number }
    try {
      server = await startServer({ ...unreachable, METRICS_PORT: String(port) }, { waitFor: 'none' })
      expect((await server.exited).code).toBe(1)
      const fatal = server.logs.filter((l) => l.level === 'fatal')
      expect(fatal).toHaveLength(1)
      expect(fatal[0]).toMatchObject({ msg: 'cannot listen for metrics (METRICS_PORT)', port })
      expect(server.logs.some((l) => l.msg.startsWith('Server listening'))).toBe(false)
    } finally {
      taken.close()
    }
  })
})

describe('shutdown', () => {
  let stack: Stack
  beforeAll(async () => {
    stack = await startStack()
  })
  afterAll(async () => {
    await stack?.stop()
  })

  it('the drain and the close can be scraped; the listener closes last, cutting its connections, and holds nothing up', async () => {
    const drainMs = 1500
    const slowMs = 3000
    server = await startServer({ DATABASE_URL: stack.databaseUrl, REDIS_URL: stack.redisUrl, DRAIN_DELAY_MS: String(drainMs), SHUTDOWN_TIMEOUT_MS: '20000' })
    const s = server
    expect((await fetch(`${s.url}/ready`)).status).toBe(200)
    const agent = new http.Agent({ keepAlive: true })
    const ready = await scrape(s.metricsUrl, agent)
    expect(phase(ready)).toEqual(['ready'])
    expect(sample(ready, 'readiness_check_up', { check: 'postgres', critical: 'true' })).toBe(1)
    expect(sample(ready, 'redis_connection_state', { state: 'ready' })).toBe(1)
    expect(sample(ready, 'pg_pool_clients')).toBeGreaterThanOrEqual(1)
    expect(sample(ready, 'lifecycle_shutdown_timeout_seconds')).toBe(20)

    // A request in flight across the drain and into the close.
    const inFlight = fetch(`${s.url}/fixture/slow?ms=${slowMs}`).then(async (r) => ({ status: r.status, at: performance.now() }))
    await sleep(200)
    const signalAt = performance.now()
    s.child.kill('SIGTERM')
    await s.waitForLog((l) => l.lifecycle === 'draining')
    const draining = await scrape(s.metricsUrl, agent)
    expect(phase(draining)).toEqual(['draining'])

    await s.waitForLog((l) => l.lifecycle === 'closing')
    // The public listener is closed; the metrics one still answers, on the same kept-alive connection.
    await expect(fetch(`${s.url}/health`)).rejects.toThrow()
    const closing = await scrape(s.metricsUrl, agent)
    expect(phase(closing)).toEqual(['closing'])
    expect(sample(closing, 'lifecycle_phase_seconds', { phase: 'draining' })).toBeGreaterThanOrEqual(drainMs / 1000 - 0.05)
    expect(sample(closing, 'lifecycle_phase_seconds', { phase: 'closing' })).toBeGreaterThan(0)
    const [socket] = Object.values(agent.freeSockets).flat()
    expect(socket).toBeDefined()
    // And a scrape whose request is half sent: not idle to Node, so server.close() alone
    // would wait for it (headersTimeout, 60 s), past the shutdown deadline.
    const halfSent = connect(Number(new URL(s.metricsUrl).port), '127.0.0.1')
    await once(halfSent, 'connect')
    halfSent.write('GET /metrics HTTP/1.1\r\nHost: prometheus\r\n')
    halfSent.on('error', () => {})
    const cut = Promise.all([socket!, halfSent].map((sock) => new Promise<void>((resolve) => sock.once('close', () => resolve()))))

    const response = await inFlight
    expect(response.status).toBe(200)
    const { code } = await s.exited
    const exitedAt = performance.now()
    expect(code).toBe(0)
    await cut
    // The open scrape connections did not hold the exit: well under a second after the
    // response, on a loaded machine.
    expect(exitedAt - response.at).toBeLessThan(1000)
    expect(exitedAt - signalAt).toBeLessThan(slowMs + 1000)
    // The order of the close: the public server, the dependencies, then the metrics listener.
    const order = s.logs.map((l) => l.msg).filter((m) => /^(postgres: pool closed|redis: client closed|lifecycle: closed)$/.test(m))
    expect(order.at(-1), s.output()).toBe('lifecycle: closed')
    // Every line was written in the order it was logged, the exit's last ones included
    // (an asynchronous log destination wrote `redis: client closed` after them).
    const times = s.logs.map((l) => l.time)
    expect(times).toEqual([...times].sort())
    agent.destroy()
  })
})
