// The built server as a real child process against real Postgres and Redis: real
// signals, real keep-alive connections, real exit codes. These are the behaviours a
// rolling update depends on.
import http from 'node:http'
import { setTimeout as sleep } from 'node:timers/promises'
import { fileURLToPath } from 'node:url'
import { getContainerRuntimeClient } from 'testcontainers'
import { describe, expect, it } from 'vitest'
import { freePortOutsideEphemeralRange, type LogLine, type ServerProcess } from '../helpers/server.js'
import { serversOnStack, terminated } from '../helpers/suite.js'

interface Response {
  status: number
  body: string
  connection: string | undefined
}

function request(url: string, agent: http.Agent | false): Promise<Response> {
  return new Promise((resolve, reject) => {
    http
      .get(url, { agent }, (res) => {
        let body = ''
        res.setEncoding('utf8').on('data', (c: string) => (body += c))
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body, connection: res.headers.connection }))
        res.on('error', reject)
      })
      .on('error', reject)
  })
}

const suite = serversOnStack()

const lifecycleLines = (s: ServerProcess, phase: string) => s.logs.filter((l) => l.lifecycle === phase)

/** Sends SIGTERM, expects the exit code, returns the ms from signal to exit. */
async function terminate(s: ServerProcess, expectedCode: number): Promise<number> {
  const { code, ms } = await terminated(s)
  expect(code).toBe(expectedCode)
  return ms
}

describe('graceful shutdown', () => {
  it('SIGTERM under keep-alive load: zero failed requests while draining, /ready 503, in-flight request completes, exit 0', async () => {
    const drainDelayMs = 2000
    const slowMs = 3500
    const s = await suite.start({ DRAIN_DELAY_MS: String(drainDelayMs), SHUTDOWN_TIMEOUT_MS: '15000', KEEP_ALIVE_TIMEOUT_MS: '65000' })
    const agent = new http.Agent({ keepAlive: true, maxSockets: 8 })
    // Connections that sit idle in a client's pool: shutdown must close them at once,
    // not wait for the 65 s keep-alive timeout.
    const idleAgent = new http.Agent({ keepAlive: true })
    await Promise.all(Array.from({ length: 4 }, () => request(`${s.url}/fixture/db`, idleAgent)))
    expect(Object.values(idleAgent.freeSockets).flat().length).toBeGreaterThan(0)

    let signalAt = Infinity
    // Requests sent once the server logged `draining` (the signal takes a moment to be
    // handled): each of those must ask the client to close its connection.
    let drainingAt = Infinity
    let stopLoad = false
    const duringDrain = { ok: 0, failed: [] as string[], sentWhileDraining: 0, closeHeaders: 0 }
    const loop = async () => {
      while (!stopLoad) {
        const began = performance.now()
        try {
          const res = await request(`${s.url}/fixture/db`, agent)
          if (began < signalAt) continue
          if (res.status === 200) duringDrain.ok++
          else duringDrain.failed.push(`HTTP ${res.status}: ${res.body}`)
          if (began < drainingAt) continue
          duringDrain.sentWhileDraining++
          if (res.connection === 'close') duringDrain.closeHeaders++
        } catch (err) {
          if (began >= signalAt) duringDrain.failed.push(String(err))
        }
      }
    }
    const loops = Array.from({ length: 8 }, loop)
    await sleep(500)

    const slow = request(`${s.url}/fixture/slow?ms=${slowMs}`, false)
    await s.waitForLog((l: LogLine) => (l.req as { url?: string } | undefined)?.url === `/fixture/slow?ms=${slowMs}`)

    signalAt = performance.now()
    s.child.kill('SIGTERM')
    await s.waitForLog((l) => l.lifecycle === 'draining')
    drainingAt = performance.now()
    const readyDuringDrain: number[] = []
    while (performance.now() - signalAt < drainDelayMs - 500) {
      readyDuringDrain.push((await request(`${s.url}/ready`, false)).status)
      await sleep(100)
    }
    // Load stops before the drain delay ends: by then the endpoint is gone in Kubernetes.
    stopLoad = true
    await Promise.all(loops)

    expect(duringDrain.failed).toEqual([])
    expect(duringDrain.ok).toBeGreaterThan(20)
    expect(duringDrain.sentWhileDraining).toBeGreaterThan(10)
    expect(duringDrain.closeHeaders).toBe(duringDrain.sentWhileDraining)
    expect(readyDuringDrain.length).toBeGreaterThan(3)
    expect(new Set(readyDuringDrain)).toEqual(new Set([503]))

    const slowRes = await slow
    expect(slowRes.status).toBe(200)
    // In flight across the close: answered, and told to close its connection.
    expect(slowRes.connection).toBe('close')
    expect(JSON.parse(slowRes.body)).toEqual({ waitedMs: slowMs })

    const { code } = await s.exited
    const totalMs = performance.now() - signalAt
    expect(code).toBe(0)
    // About the drain delay plus the longest request, far from the keep-alive timeout.
    expect(totalMs).toBeGreaterThan(drainDelayMs)
    expect(totalMs).toBeLessThan(slowMs + 5000)
    for (const phase of ['draining', 'closing', 'closed']) expect(lifecycleLines(s, phase)).toHaveLength(1)
    expect(lifecycleLines(s, 'closed')[0]).toMatchObject({ exitCode: 0, totalMs: expect.any(Number) as number })
    agent.destroy()
    idleAgent.destroy()
  })

  it('with only idle keep-alive connections, exits right after the drain delay', async () => {
    const server = await suite.start({ DRAIN_DELAY_MS: '500', SHUTDOWN_TIMEOUT_MS: '10000', KEEP_ALIVE_TIMEOUT_MS: '65000' })
    const idleAgent = new http.Agent({ keepAlive: true })
    await Promise.all(Array.from({ length: 6 }, () => request(`${server.url}/health`, idleAgent)))
    const totalMs = await terminate(server, 0)
    expect(totalMs).toBeGreaterThanOrEqual(500)
    // Far from the 65 s keep-alive timeout; generous for a loaded machine.
    expect(totalMs).toBeLessThan(5000)
    idleAgent.destroy()
  })

  it('SIGINT runs the same sequence', async () => {
    const server = await suite.start({ DRAIN_DELAY_MS: '0', SHUTDOWN_TIMEOUT_MS: '5000' })
    server.child.kill('SIGINT')
    expect((await server.exited).code).toBe(0)
    expect(lifecycleLines(server, 'draining')[0]).toMatchObject({ reason: 'SIGINT' })
  })

  it('a second signal exits at once', async () => {
    const server = await suite.start({ DRAIN_DELAY_MS: '10000', SHUTDOWN_TIMEOUT_MS: '20000' })
    server.child.kill('SIGTERM')
    await server.waitForLog((l) => l.lifecycle === 'draining')
    const secondAt = performance.now()
    server.child.kill('SIGTERM')
    expect((await server.exited).code).toBe(1)
    // Not the 10 s drain delay.
    expect(performance.now() - secondAt).toBeLessThan(3000)
    expect(server.logs.some((l) => l.msg === 'shutdown: second signal, exiting now')).toBe(true)
  })
})

describe('shutdown deadline', () => {
  it('a request that outlives SHUTDOWN_TIMEOUT_MS: exit 1 at the deadline, naming the step', async () => {
    const s = await suite.start({ DRAIN_DELAY_MS: '200', SHUTDOWN_TIMEOUT_MS: '1500' })
    const slow = request(`${s.url}/fixture/slow?ms=9000`, false).catch((err: Error) => err)
    await s.waitForLog((l) => (l.req as { url?: string } | undefined)?.url === '/fixture/slow?ms=9000')
    const totalMs = await terminate(s, 1)
    expect(totalMs).toBeGreaterThanOrEqual(1500)
    // The deadline, not the 9 s request.
    expect(totalMs).toBeLessThan(7000)
    expect(s.logs.find((l) => l.level === 'fatal')).toMatchObject({ step: 'closing HTTP server (in-flight requests)', timeoutMs: 1500 })
    expect(await slow).toBeInstanceOf(Error)
  })

  it('a dependency that hangs on close (Redis paused): exit 1 at the deadline, naming the step', async () => {
    const s = await suite.start({ DRAIN_DELAY_MS: '0', SHUTDOWN_TIMEOUT_MS: '2000', REDIS_COMMAND_TIMEOUT_MS: '60000' })
    // A paused container keeps its TCP connections open but never answers, so the
    // client's QUIT waits for a reply that does not come.
    const client = await getContainerRuntimeClient()
    const container = client.container.getById(suite.stack.redis.getId())
    await container.pause()
    try {
      const totalMs = await terminate(s, 1)
      expect(totalMs).toBeGreaterThanOrEqual(2000)
      // The deadline, not the 60 s command timeout.
      expect(totalMs).toBeLessThan(8000)
      expect(s.logs.find((l) => l.level === 'fatal')).toMatchObject({ step: 'closing Postgres and Redis' })
    } finally {
      await container.unpause()
    }
  })
})

describe('fatal errors', () => {
  const fixture = fileURLToPath(new URL('../fixtures/fatal-on-signal.mjs', import.meta.url))
  it.each([
    ['SIGUSR2', 'uncaughtException', 'boom: uncaught from test fixture'],
    ['SIGHUP', 'unhandledRejection', 'boom: unhandled rejection from test fixture'],
  ] as const)('%s → %s is logged as fatal and leads to the same shutdown with exit 1', async (signal, origin, message) => {
    const server = await suite.start({ DRAIN_DELAY_MS: '100', SHUTDOWN_TIMEOUT_MS: '5000' }, { nodeArgs: ['--import', fixture] })
    server.child.kill(signal)
    expect((await server.exited).code).toBe(1)
    expect(server.logs.find((l) => l.level === 'fatal')).toMatchObject({ origin, err: { message }, msg: 'fatal error, shutting down' })
    expect(lifecycleLines(server, 'closed')[0]).toMatchObject({ exitCode: 1 })
  })
})

describe('startup', () => {
  it('listens at once; /startup and /ready 503 until the dependencies come, then 200; never crashes meanwhile', async () => {
    const net = await import('node:net')
    // Postgres "comes up" later: a TCP forwarder we open after a while (refused until then).
    const port = await freePortOutsideEphemeralRange()
    const direct = new URL(suite.stack.directDatabaseUrl)
    const s = await suite.start({ DATABASE_URL: `postgres://app:s3cret-pw@127.0.0.1:${port}/app` }, { waitFor: 'listening' })
    for (let i = 0; i < 5; i++) {
      expect((await request(`${s.url}/health`, false)).status).toBe(200)
      expect((await request(`${s.url}/startup`, false)).status).toBe(503)
      expect(JSON.parse((await request(`${s.url}/ready`, false)).body)).toEqual({ status: 'not ready', reason: 'starting' })
      await sleep(300)
    }
    expect(s.child.exitCode).toBeNull()
    const forwarder = net.createServer((socket) => {
      const upstream = net.connect(Number(direct.port), direct.hostname)
      socket.pipe(upstream).pipe(socket)
      socket.on('error', () => upstream.destroy())
      upstream.on('error', () => socket.destroy())
    })
    forwarder.listen(port, '127.0.0.1')
    try {
      await s.waitForLog((l) => l.lifecycle === 'ready', 30_000)
      expect((await request(`${s.url}/startup`, false)).status).toBe(200)
      expect((await request(`${s.url}/ready`, false)).status).toBe(200)
      expect(s.logs.some((l) => l.msg === 'startup: postgres not ready, retrying')).toBe(true)
    } finally {
      await s.stop()
      forwarder.close()
    }
  })
})

describe('logging', () => {
  it('request ids in lines and headers, secrets redacted, successful probes not logged at info', async () => {
    const s = await suite.start({ DRAIN_DELAY_MS: '0' })
    const res = await new Promise<http.IncomingMessage>((resolve, reject) =>
      http
        .get(`${s.url}/fixture/db?token=tok-secret-1&page=1`, { headers: { authorization: 'Bearer auth-secret-2', cookie: 'sid=cookie-secret-3', 'x-request-id': 'req-abc-123' } }, (r) => {
          r.resume()
          r.on('end', () => resolve(r))
        })
        .on('error', reject),
    )
    expect(res.statusCode).toBe(200)
    expect(res.headers['x-request-id']).toBe('req-abc-123')
    for (let i = 0; i < 5; i++) {
      for (const probe of ['/health', '/ready', '/startup']) expect((await request(`${s.url}${probe}`, false)).status).toBe(200)
    }
    const lines = await s.waitForLog((l) => l.reqId === 'req-abc-123' && l.msg === 'request completed').then(() => s.logs.filter((l) => l.reqId === 'req-abc-123'))
    expect(lines.length).toBeGreaterThanOrEqual(2)
    expect(lines[0]).toMatchObject({ req: { url: '/fixture/db?token=[REDACTED]&page=1' } })
    const out = s.output()
    for (const secret of ['tok-secret-1', 'auth-secret-2', 'cookie-secret-3', 's3cret-pw']) expect(out).not.toContain(secret)
    expect(s.logs.filter((l) => /^\/(health|ready|startup)/.test((l.req as { url?: string } | undefined)?.url ?? ''))).toEqual([])
  })
})
