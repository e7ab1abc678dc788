// Schemathesis, a fuzzer no one here wrote, run as a container (SCHEMATHESIS_IMAGE, see
// test/helpers/images.ts) on the host's network namespace, so it reaches the service on
// 127.0.0.1, as Prometheus does in metrics.test.ts. The exit code is the container's own,
// read through the engine's API (`docker run --rm` reports 0 on some engines whatever
// happened). Used by test/integration/schemathesis.test.ts (the whole API) and
// example-schemathesis.test.ts (the example's writes against its table).
import { getContainerRuntimeClient } from 'testcontainers'
import { images } from './images.js'

/** Per operation and phase: about 530 cases, a minute or two on a loaded 2-core machine (docs/api.md). */
export const MAX_EXAMPLES = 40
export const RUN_TIMEOUT_MS = 8 * 60_000
const REPORT_DIR = '/tmp/schemathesis-report'
const HAR_FILE = 'run.har'

export interface Run {
  exitCode: number
  output: string
  /** The files of the report directory, by name. */
  report: Map<string, string>
  ms: number
}

/** Runs `st` with `args` in a container on the host network; waits for its real exit code. */
export async function schemathesis(args: string[]): Promise<Run> {
  const docker = (await getContainerRuntimeClient()).container.dockerode
  const start = performance.now()
  const container = await docker.createContainer({
    Image: images.schemathesis,
    Cmd: args,
    // No terminal: no progress animation, colours off, one line per operation.
    Tty: false,
    Env: ['NO_COLOR=1', 'COLUMNS=160'],
    HostConfig: { NetworkMode: 'host' },
  })
  try {
    await container.start()
    const { StatusCode } = (await Promise.race([
      container.wait(),
      new Promise((_, reject) => setTimeout(() => reject(new Error(`schemathesis still running after ${RUN_TIMEOUT_MS} ms`)), RUN_TIMEOUT_MS).unref()),
    ])) as { StatusCode: number }
    const ms = performance.now() - start
    const output = demux(await container.logs({ stdout: true, stderr: true, follow: false })).toString('utf8')
    const report = new Map<string, string>()
    try {
      const archive = await container.getArchive({ path: REPORT_DIR })
      for (const [name, content] of untar(await streamToBuffer(archive))) report.set(name.replace(/^.*\//, ''), content.toString('utf8'))
    } catch (err) {
      report.set('error', String(err))
    }
    return { exitCode: StatusCode, output, report, ms }
  } finally {
    await container.remove({ force: true }).catch(() => undefined)
  }
}

/** The engine's log stream without a terminal: frames of an 8-byte header (stream, 0, 0, 0, size) and the payload. */
function demux(logs: Buffer): Buffer {
  const parts: Buffer[] = []
  for (let at = 0; at + 8 <= logs.length; ) {
    const size = logs.readUInt32BE(at + 4)
    parts.push(logs.subarray(at + 8, at + 8 + size))
    at += 8 + size
  }
  return Buffer.concat(parts)
}

async function streamToBuffer(stream: NodeJS.ReadableStream): Promise<Buffer> {
  const chunks: Buffer[] = []
  for await (const chunk of stream) chunks.push(Buffer.from(chunk as Buffer))
  return Buffer.concat(chunks)
}

/** The regular files of a tar archive (ustar: 512-byte header blocks, contents padded to 512). */
function untar(tar: Buffer): Array<[string, Buffer]> {
  const files: Array<[string, Buffer]> = []
  for (let at = 0; at + 512 <= tar.length; ) {
    const header = tar.subarray(at, at + 512)
    if (header.every((b) => b === 0)) break
    const field = (from: number, length: number) => header.subarray(from, from + length).toString('utf8').replace(/\0.*$/s, '').trim()
    const size = parseInt(field(124, 12) || '0', 8)
    const name = `${field(345, 155)}${field(345, 155) ? '/' : ''}${field(0, 100)}`
    const type = field(156, 1)
    if (type === '0' || type === '') files.push([name, tar.subarray(at + 512, at + 512 + size)])
    at += 512 + Math.ceil(size / 512) * 512
  }
  return files
}

export interface Har {
  log: { entries: Array<{ request: { method: string; url: string }; response: { status: number; content: { text?: string } } }> }
}

/** `st run` of the spec the service serves, every check, a HAR report; `args` add to it. */
export async function runAgainst(serviceUrl: string, args: string[] = []): Promise<Run> {
  const run = await schemathesis(['run', `${serviceUrl}/openapi.json`, '--checks', 'all', '--max-examples', String(MAX_EXAMPLES), '--report', 'har', '--report-har-path', `${REPORT_DIR}/${HAR_FILE}`, ...args])
  // The summary (phases, test cases, seed) goes to the test's output, failures or not.
  console.log(`schemathesis: exit ${run.exitCode} in ${(run.ms / 1000).toFixed(1)} s\n${run.output.slice(run.output.lastIndexOf('SUMMARY') - 80)}`)
  return run
}

/** The run's HAR report, parsed; undefined when it wrote none. */
export function harOf(run: Run): Har | undefined {
  const text = run.report.get(HAR_FILE)
  return text === undefined ? undefined : (JSON.parse(text) as Har)
}
