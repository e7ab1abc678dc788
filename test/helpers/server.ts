// Runs the built server (dist/server.js, what the image runs) as a real child process,
// so tests send it real signals and observe its real exit code and stdout logs. By
// default through test/fixtures/server.ts: the same main() with the fixture routes the
// tests use for requests in flight, streams and queries (test/fixtures/routes.ts).
import { spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { createServer } from 'node:net'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const repo = (path: string) => fileURLToPath(new URL(`../../${path}`, import.meta.url))

// SERVER_ENTRY runs the tests against another entry point (e.g. an older commit's, to
// check that a new test fails there): a built dist/server.js, or a test/fixtures/server.ts.
export const serverEntry = process.env.SERVER_ENTRY ?? repo('test/fixtures/server.ts')

export interface LogLine {
  level: string
  msg: string
  time: string
  [key: string]: unknown
}

/** The tracing preload (dist/tracing.js), as the image runs it. */
export const tracingPreload = join(dirname(serverEntry), serverEntry.endsWith('.ts') ? '../../dist/tracing.js' : 'tracing.js')

export interface ServerProcess {
  child: ChildProcess
  port: number
  url: string
  /** The metrics listener (METRICS_PORT: a free port unless the test sets it). */
  metricsUrl: string
  /** Parsed JSON log lines so far (stdout). */
  logs: LogLine[]
  /** Raw stdout + stderr so far. */
  output(): string
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>
  /** Resolves when a log line matching `pred` appears. */
  waitForLog(pred: (l: LogLine) => boolean, timeoutMs?: number): Promise<LogLine>
  stop(): Promise<void>
}

/** Binds `port` (0: any) on loopback and lets it go; the port bound, or undefined when taken. */
async function tryPort(port: number): Promise<number | undefined> {
  const srv = createServer()
  const bound = await new Promise<boolean>((resolve) => {
    srv.once('error', () => resolve(false))
    srv.listen(port, '127.0.0.1', () => resolve(true))
  })
  if (!bound) return undefined
  const address = srv.address() as { port: number }
  srv.close()
  await once(srv, 'close')
  return address.port
}

export async function freePort(): Promise<number> {
  const port = await tryPort(0)
  if (port === undefined) throw new Error('no free port on 127.0.0.1')
  return port
}

/**
 * A free port below Linux's default ephemeral range (32768-60999), for a test that names a
 * port seconds before it listens there (a dependency that "comes up" later): in the range,
 * another test's port 0 or a container engine's published port could take it meanwhile.
 */
export async function freePortOutsideEphemeralRange(): Promise<number> {
  for (;;) {
    const port = await tryPort(20_000 + Math.floor(Math.random() * 12_000))
    if (port !== undefined) return port
  }
}

export interface StartOptions {
  /** What to wait for before resolving: the `lifecycle: ready` log (default), listening, or nothing. */
  waitFor?: 'startup' | 'listening' | 'none'
  /** Extra arguments for node, before the entry point (e.g. --import a fixture). */
  nodeArgs?: string[]
  /** Run with the tracing preload (`--import dist/tracing.js`), as the image and `npm start` do. */
  preload?: boolean
  /** The entry point to run (default: serverEntry); another app's, say (test/patterns). */
  entry?: string
}

export async function startServer(env: Record<string, string>, { waitFor = 'startup', nodeArgs = [], preload = false, entry = serverEntry }: StartOptions = {}): Promise<ServerProcess> {
  // Outside the ephemeral range: between this check and the child's listen, a parallel
  // test's port 0 or outgoing connection could take an ephemeral port (seen: EADDRINUSE).
  const port = await freePortOutsideEphemeralRange()
  // Metrics are on by default (METRICS_PORT=9464): a free port, so servers can run side by side.
  const metricsPort = env.METRICS_PORT ?? String(await freePortOutsideEphemeralRange())
  const child = spawn(process.execPath, [...(preload ? ['--import', tracingPreload] : []), ...nodeArgs, entry], {
    env: { PATH: process.env.PATH ?? '', HOST: '127.0.0.1', PORT: String(port), LOG_LEVEL: 'info', METRICS_PORT: metricsPort, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let raw = ''
  let buffered = ''
  const logs: LogLine[] = []
  const waiters: Array<{ pred: (l: LogLine) => boolean; resolve: (l: LogLine) => void }> = []
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    raw += chunk
    buffered += chunk
    let nl: number
    while ((nl = buffered.indexOf('\n')) !== -1) {
      const line = buffered.slice(0, nl)
      buffered = buffered.slice(nl + 1)
      try {
        const parsed = JSON.parse(line) as LogLine
        logs.push(parsed)
        for (const w of [...waiters]) {
          if (w.pred(parsed)) {
            waiters.splice(waiters.indexOf(w), 1)
            w.resolve(parsed)
          }
        }
      } catch {
        /* not JSON: kept in raw output */
      }
    }
  })
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (raw += chunk))
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  )
  const url = `http://127.0.0.1:${port}`
  const proc: ServerProcess = {
    child,
    port,
    url,
    metricsUrl: `http://127.0.0.1:${metricsPort}/metrics`,
    logs,
    output: () => raw,
    exited,
    waitForLog(pred, timeoutMs = 30_000) {
      const found = logs.find(pred)
      if (found) return Promise.resolve(found)
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`log line not seen within ${timeoutMs} ms; output:\n${raw}`)), timeoutMs)
        waiters.push({ pred, resolve: (l) => (clearTimeout(timer), resolve(l)) })
      })
    },
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGKILL')
        await exited
      }
    },
  }
  if (waitFor !== 'none') {
    const ready = waitFor === 'startup' ? (l: LogLine) => l.lifecycle === 'ready' : (l: LogLine) => l.msg.startsWith('Server listening')
    await Promise.race([
      proc.waitForLog(ready, 60_000),
      exited.then(({ code }) => {
        throw new Error(`server exited with ${code} before ${waitFor}; output:\n${raw}`)
      }),
    ])
  }
  return proc
}

/** Runs an entry point (relative to the repository) to its exit: code, raw output and the JSON log lines. */
export async function runNode(entry: string, env: Record<string, string>): Promise<{ code: number | null; output: string; lines: LogLine[] }> {
  const child = spawn(process.execPath, [repo(entry)], {
    env: { PATH: process.env.PATH ?? '', LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let output = ''
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (output += chunk))
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (output += chunk))
  const [code] = (await once(child, 'exit')) as [number | null]
  const lines = output
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as LogLine)
  return { code, output, lines }
}
