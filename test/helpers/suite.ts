// A file of process tests: one stack (real Postgres and Redis) for the whole file, and the
// built server started against it per test, stopped after that test whatever its outcome.
import { afterAll, afterEach, beforeAll } from 'vitest'
import { startServer, type ServerProcess, type StartOptions } from './server.js'
import { startStack, type Stack } from './stack.js'

export interface ServerSuite {
  /** The file's stack (from beforeAll on). */
  readonly stack: Stack
  /** The built server with the stack's DATABASE_URL and REDIS_URL (`env` may override them). */
  start(env?: Record<string, string>, options?: StartOptions): Promise<ServerProcess>
}

/** The built server against `stack` (its DATABASE_URL and REDIS_URL; `env` may override them). */
function startOn(stack: Stack, env: Record<string, string> = {}, options: StartOptions = {}): Promise<ServerProcess> {
  return startServer({ DATABASE_URL: stack.databaseUrl, REDIS_URL: stack.redisUrl, ...env }, options)
}

/** Registers the file's hooks; call it at the top level of a test file. */
export function serversOnStack(): ServerSuite {
  let stack: Stack | undefined
  const started: ServerProcess[] = []
  beforeAll(async () => {
    stack = await startStack()
  })
  afterAll(async () => {
    await stack?.stop()
  })
  afterEach(async () => {
    await Promise.all(started.splice(0).map((s) => s.stop()))
  })
  const suite: ServerSuite = {
    get stack() {
      if (stack === undefined) throw new Error('the stack starts in beforeAll')
      return stack
    },
    async start(env, options) {
      const s = await startOn(suite.stack, env, options)
      started.push(s)
      return s
    },
  }
  return suite
}

/** Sends SIGTERM; resolves with how the process ended and the ms from signal to exit. */
export async function terminated(s: ServerProcess) {
  const signalAt = performance.now()
  s.child.kill('SIGTERM')
  const { code, signal } = await s.exited
  return { code, signal, ms: performance.now() - signalAt }
}

/**
 * A stack behind Toxiproxy and the built server on it, with timeouts short enough for
 * tests that cut, slow and blackhole its connections, and no readiness cache (each
 * probe runs the checks). `env` adds to or overrides them.
 */
export async function startBehindToxiproxy(env: Record<string, string> = {}): Promise<{ stack: Stack; server: ServerProcess }> {
  const stack = await startStack({ toxiproxy: true })
  try {
    const server = await startOn(stack, { READY_CACHE_TTL_MS: '0', PG_QUERY_TIMEOUT_MS: '2000', REDIS_COMMAND_TIMEOUT_MS: '1000', ...env })
    return { stack, server }
  } catch (err) {
    await stack.stop()
    throw err
  }
}

/** One stack and the built server on it for the whole file (from beforeAll to afterAll). */
export function serverForFile(env: Record<string, string> = {}): { readonly stack: Stack; readonly server: ServerProcess } {
  let stack: Stack | undefined
  let server: ServerProcess | undefined
  beforeAll(async () => {
    stack = await startStack()
    server = await startOn(stack, env)
  })
  afterAll(async () => {
    await server?.stop()
    await stack?.stop()
  })
  return {
    get stack() {
      if (stack === undefined) throw new Error('the stack starts in beforeAll')
      return stack
    },
    get server() {
      if (server === undefined) throw new Error('the server starts in beforeAll')
      return server
    },
  }
}
