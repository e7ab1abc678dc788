// Shared plumbing for the container image and Compose tests: the repository root, a
// clear failure when no container engine answers, building the image once, running
// the Compose CLI (v2 plugin or v1 standalone), and small polling helpers.
import { execFile } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { createServer } from 'node:net'
import { fileURLToPath } from 'node:url'
import { GenericContainer, getContainerRuntimeClient, type ContainerRuntimeClient } from 'testcontainers'
import { images } from '../helpers/images.js'

export const repoRoot = fileURLToPath(new URL('../../', import.meta.url))

/** Lower-case and short: usable in image tags and Compose project names. */
export const uniqueId = (): string => `${Date.now().toString(36)}${randomBytes(3).toString('hex')}`

/** The engine's client, or an error that says what to fix (tests fail, never skip). */
export async function engine(): Promise<ContainerRuntimeClient> {
  try {
    return await getContainerRuntimeClient()
  } catch (err) {
    throw new Error(
      `No container engine reachable (DOCKER_HOST=${process.env.DOCKER_HOST ?? '<unset>'}). ` +
        'These tests build and run the image: start Docker (or Podman behind the Docker API socket) ' +
        `and point DOCKER_HOST at it. Cause: ${String(err)}`,
      { cause: err },
    )
  }
}

/**
 * Builds the repository's Dockerfile as `tag`, with NODE_IMAGE from the environment
 * (test/helpers/images.ts) as the base image. Returns a container definition for it.
 */
export async function buildImage(tag: string): Promise<GenericContainer> {
  await engine()
  try {
    return await GenericContainer.fromDockerfile(repoRoot)
      .withBuildArgs({ NODE_IMAGE: images.node, VERSION: '0.0.0-test' })
      .build(tag, { deleteOnExit: false })
  } catch (err) {
    throw new Error(
      `docker build of ${repoRoot}Dockerfile (NODE_IMAGE=${images.node}) failed. ` +
        'Rerun with DEBUG=testcontainers:build to see the build output, or run ' +
        `\`docker build --build-arg NODE_IMAGE=${images.node} .\`. Cause: ${String(err)}`,
      { cause: err },
    )
  }
}

export async function removeImage(tag: string): Promise<void> {
  const client = await engine()
  await client.container.dockerode
    .getImage(tag)
    .remove({ force: true })
    .catch(() => undefined)
}

export interface RunResult {
  code: number
  stdout: string
  stderr: string
}

/** Runs a command to completion (never throws for a non-zero exit; times out). */
export function run(
  file: string,
  args: readonly string[],
  opts: { cwd?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {},
): Promise<RunResult> {
  return new Promise((resolve) => {
    execFile(
      file,
      args,
      { cwd: opts.cwd ?? repoRoot, env: opts.env ?? process.env, timeout: opts.timeoutMs ?? 120_000, maxBuffer: 64 << 20 },
      (err, stdout, stderr) => {
        const code = err === null ? 0 : typeof err.code === 'number' ? err.code : -1
        const note = err !== null && err.killed ? `\n[killed: ${String(err.signal)} after timeout]` : ''
        resolve({ code, stdout, stderr: stderr + note })
      },
    )
  })
}

/**
 * The Compose CLI: `docker compose` (v2) when present, else `docker-compose` (v1).
 * Throws a clear error when neither is installed.
 */
export async function composeCli(): Promise<{ file: string; prefix: string[]; version: string }> {
  const candidates: { file: string; prefix: string[] }[] = [
    { file: 'docker', prefix: ['compose'] },
    { file: 'docker-compose', prefix: [] },
  ]
  for (const c of candidates) {
    const r = await run(c.file, [...c.prefix, 'version'], { timeoutMs: 30_000 }).catch(() => undefined)
    if (r?.code === 0) return { ...c, version: r.stdout.split('\n')[0] ?? '' }
  }
  throw new Error('Neither `docker compose` (v2) nor `docker-compose` (v1) is installed: the Compose test needs one of them.')
}

/** A TCP port that was free a moment ago on this host. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const address = server.address()
      const port = typeof address === 'object' && address !== null ? address.port : 0
      server.close(() => resolve(port))
    })
  })
}

/** Polls `probe` until it returns a value that is not undefined, or throws after timeoutMs. */
export async function waitFor<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs: number, everyMs = 500): Promise<T> {
  const deadline = Date.now() + timeoutMs
  let last: unknown
  for (;;) {
    try {
      const value = await probe()
      if (value !== undefined) return value
    } catch (err) {
      last = err
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last instanceof Error ? `: ${last.message}` : ''}`)
    }
    await new Promise((r) => setTimeout(r, everyMs))
  }
}

/** GET with a short timeout; resolves to the status code, or undefined on a network error. */
export async function statusOf(url: string, timeoutMs = 2_000): Promise<number | undefined> {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) })
    await res.arrayBuffer()
    return res.status
  } catch {
    return undefined
  }
}
