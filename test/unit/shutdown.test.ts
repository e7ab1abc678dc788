// The shutdown sequence in-process, with a recorded exit() instead of process.exit.
// test/process/ proves the same against the real server with real signals.
import type { FastifyInstance } from 'fastify'
import net from 'node:net'
import { afterEach, describe, expect, it } from 'vitest'
import { buildApp } from '../../src/app.js'
import { loadConfig } from '../../src/config.js'
import Fastify from 'fastify'
import { createShutdown, prepareShutdown } from '../../src/shutdown.js'
import type { FlushResult, Tracing } from '../../src/tracing-state.js'
import fixtureRoutes from '../fixtures/routes.js'

// Event-loop delay shedding off: under a loaded test machine a starved worker's samples
// would shed requests these tests do not test shedding with (the pressure tests set it).
const env = { DATABASE_URL: 'postgres://app:pw@127.0.0.1:1/app', REDIS_URL: 'redis://127.0.0.1:1', LOG_LEVEL: 'silent', MAX_EVENT_LOOP_DELAY_MS: '0' }
const checks = [{ name: 'postgres', run: async () => {} }]
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

let app: FastifyInstance
let dispose: (() => void) | undefined
afterEach(async () => {
  // Tests that stop a shutdown midway (second signal) must not leave its drain and
  // deadline timers running into later tests.
  dispose?.()
  dispose = undefined
  // The deadline test leaves a hung onClose hook behind: don't wait on it.
  if (app && app.lifecycle.phase === 'ready') await app.close()
})

async function setup(drainDelayMs: number, timeoutMs: number, onClose?: () => Promise<unknown>, { started = true, tracing }: { started?: boolean; tracing?: Tracing } = {}) {
  app = await buildApp(loadConfig(env), { checks, routes: [fixtureRoutes] })
  if (onClose) app.addHook('onClose', onClose)
  await app.ready()
  if (started) app.lifecycle.enter('ready')
  const exits: number[] = []
  let exited!: (code: number) => void
  const exitedOnce = new Promise<number>((resolve) => (exited = resolve))
  const handlers = createShutdown({
    app,
    lifecycle: app.lifecycle,
    drainDelayMs,
    timeoutMs,
    ...(tracing ? { tracing } : {}),
    exit: (code) => {
      exits.push(code)
      exited(code)
    },
  })
  dispose = () => handlers.dispose()
  return { handlers, exits, exitedOnce }
}

/** Tracing as the preload would have set it up, with what a test replaces. */
const fakeTracing = (parts: Partial<Tracing>): Tracing => ({
  traceFields: () => undefined,
  counts: () => ({ exported: 0, droppedQueueFull: 0, droppedExportFailed: 0, pending: 0 }),
  flush: async () => ({ complete: true, ms: 0, counts: { exported: 0, droppedQueueFull: 0, droppedExportFailed: 0, pending: 0 } }),
  untraced: (fn) => fn(),
  ...parts,
})

describe('shutdown sequence', () => {
  it('a signal before startup completed skips the drain delay: the pod was never in the endpoints', async () => {
    const { handlers, exitedOnce } = await setup(5000, 10_000, undefined, { started: false })
    const start = performance.now()
    handlers.onSignal('SIGTERM')
    expect(await exitedOnce).toBe(0)
    expect(performance.now() - start).toBeLessThan(2500)
  })

  it('a restart (sustained memory pressure) drains like a signal, then exits 1', async () => {
    const { handlers, exitedOnce } = await setup(300, 5000)
    const start = performance.now()
    handlers.onRestart('memory pressure sustained', { rssBytes: 1 })
    expect(app.lifecycle.phase).toBe('draining')
    expect((await app.inject('/ready')).statusCode).toBe(503)
    expect(await exitedOnce).toBe(1)
    expect(performance.now() - start).toBeGreaterThanOrEqual(290)
  })

  it('drains with /ready 503, still serving, then closes and exits 0', async () => {
    const closed: string[] = []
    const { handlers, exits, exitedOnce } = await setup(150, 2000, async () => void closed.push('deps'))
    handlers.onSignal('SIGTERM')
    expect(app.lifecycle.phase).toBe('draining')
    const ready = await app.inject('/ready')
    expect(ready.statusCode).toBe(503)
    // Still serving normally during the drain delay (Connection: close is set on the
    // socket, which inject() bypasses: test/process proves it on real connections).
    const served = await app.inject('/fixture/slow?ms=0')
    expect(served.statusCode).toBe(200)
    expect(app.lifecycle.drainSignal.aborted).toBe(true)
    expect(closed).toEqual([])
    expect(await exitedOnce).toBe(0)
    expect(closed).toEqual(['deps'])
    expect(app.lifecycle.phase).toBe('closed')
    expect(exits).toEqual([0])
  })

  it('a second signal exits 1 at once', async () => {
    const { handlers, exits } = await setup(5000, 10_000)
    handlers.onSignal('SIGTERM')
    handlers.onSignal('SIGINT')
    expect(exits).toEqual([1])
  })

  it('past the deadline it exits 1, even while a teardown step hangs', async () => {
    const { handlers, exitedOnce } = await setup(0, 300, () => new Promise(() => {}))
    const start = performance.now()
    handlers.onSignal('SIGTERM')
    expect(await exitedOnce).toBe(1)
    expect(performance.now() - start).toBeGreaterThanOrEqual(295)
  })

  it('a fatal error runs the same sequence without the drain delay and exits 1', async () => {
    const { handlers, exitedOnce } = await setup(60_000, 70_000)
    handlers.onFatal(new Error('boom'), 'uncaughtException')
    expect(app.lifecycle.phase).not.toBe('ready')
    expect(await exitedOnce).toBe(1)
    await sleep(0)
    expect(app.lifecycle.phase).toBe('closed')
  })

  it('an upgraded (WebSocket-style) connection is closed at close instead of holding it to the deadline', async () => {
    const { handlers, exitedOnce } = await setup(100, 5000)
    await app.listen({ port: 0, host: '127.0.0.1' })
    // What a WebSocket library does: take the socket over after 101 and keep it open.
    app.server.on('upgrade', (_req, socket: net.Socket) => {
      socket.write('HTTP/1.1 101 Switching Protocols\r\nUpgrade: example\r\nConnection: Upgrade\r\n\r\n')
    })
    const { port } = app.server.address() as net.AddressInfo
    const client = net.connect(port, '127.0.0.1')
    let received = ''
    client.setEncoding('utf8').on('data', (c: string) => (received += c))
    const closed = new Promise<void>((resolve) => client.once('close', () => resolve()))
    client.write('GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: example\r\n\r\n')
    for (let i = 0; i < 100 && !received.includes('101'); i++) await sleep(20)
    expect(received).toMatch(/^HTTP\/1\.1 101/)
    const start = performance.now()
    handlers.onSignal('SIGTERM')
    expect(await exitedOnce).toBe(0)
    await closed
    expect(performance.now() - start).toBeLessThan(4000)
  })

  it('with tracing on, exports the queued spans after the server and the dependencies closed, within the deadline', async () => {
    const steps: string[] = []
    const budgets: number[] = []
    const counts = { exported: 3, droppedQueueFull: 0, droppedExportFailed: 0, pending: 0 }
    const tracing = fakeTracing({
      counts: () => counts,
      flush: async (budgetMs): Promise<FlushResult> => {
        steps.push(`flush (server listening: ${app.server.listening})`)
        budgets.push(budgetMs)
        return { complete: true, ms: 1, counts }
      },
    })
    const { handlers, exitedOnce } = await setup(50, 3000, async () => void steps.push('deps closed'), { tracing })
    handlers.onSignal('SIGTERM')
    expect(await exitedOnce).toBe(0)
    expect(steps).toEqual(['deps closed', 'flush (server listening: false)'])
    // What is left of the deadline, minus a second for what follows.
    expect(budgets[0]).toBeLessThanOrEqual(3000 - 50 - 1000)
    expect(budgets[0]).toBeGreaterThan(1500)
  })

  it('a flush that never ends cannot hold the exit past the deadline', async () => {
    const tracing = fakeTracing({ flush: () => new Promise(() => {}) })
    const { handlers, exitedOnce } = await setup(0, 400, undefined, { tracing })
    const start = performance.now()
    handlers.onSignal('SIGTERM')
    expect(await exitedOnce).toBe(1)
    expect(performance.now() - start).toBeLessThan(1000)
  })
})

describe('plain HTTP/1.1 only', () => {
  it.each([
    ['http2', { http2: true as const }],
    ['https', { https: {} }],
  ])('refuses %s at boot with one clear line (every socket would look idle to the drain)', (_name, options) => {
    const server = Fastify(options as Parameters<typeof Fastify>[0])
    expect(() => prepareShutdown(server as unknown as FastifyInstance)).toThrow(/only plain HTTP\/1\.1 is supported.*terminate TLS and HTTP\/2 at the ingress or mesh/)
  })
})
