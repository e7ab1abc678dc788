// Shared plumbing for the container image and Compose tests: the repository root, a
// clear failure when no container engine answers, building the image once, running
// the Compose CLI (v2 plugin or v1 standalone), and small polling helpers.
import { execFile } from 'node:child_process'
import { readdirSync } from 'node:fs'
import { randomBytes } from 'node:crypto'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { GenericContainer, type ContainerRuntimeClient } from 'testcontainers'
import { containerEngine as engine } from '../helpers/tools.js'
import { images } from '../helpers/images.js'

export const repoRoot = fileURLToPath(new URL('../../', import.meta.url))

/** Lower-case and short: usable in image tags and Compose project names. */
export const uniqueId = (): string => `${Date.now().toString(36)}${randomBytes(3).toString('hex')}`

export { engine }

type Docker = ContainerRuntimeClient['container']['dockerode']

/** One line of the engine's build stream (Docker API, also Podman's compat API). */
interface BuildMessage {
  stream?: string
  error?: string
  errorDetail?: { message?: string }
}

/**
 * The files under the repository (relative, '/'-separated) for the engine's client to pick
 * the build context from by .dockerignore, as `docker build` does. .git and node_modules
 * are never walked: the allowlist keeps them out anyway, and they are most of the tree.
 */
function contextFiles(dir = ''): string[] {
  return readdirSync(repoRoot + dir, { withFileTypes: true }).flatMap((entry) => {
    const path = dir + entry.name
    if (!entry.isDirectory()) return [path]
    return entry.name === '.git' || entry.name === 'node_modules' ? [] : contextFiles(path + '/')
  })
}

/** The VERSION build argument of the image under test (its OCI version label). */
export const TEST_VERSION = '0.0.0-test'

/** Builds once; resolves when the image is tagged, else throws with the end of the build's output. */
async function buildOnce(docker: Docker, tag: string, version = TEST_VERSION): Promise<void> {
  await buildContext(docker, tag, repoRoot, contextFiles(), { NODE_IMAGE: images.node, VERSION: version })
}

async function buildContext(docker: Docker, tag: string, context: string, src: string[], buildargs: Record<string, string> = {}): Promise<void> {
  const stream = await docker.buildImage({ context, src }, { t: tag, buildargs })
  const messages = await new Promise<BuildMessage[]>((resolve, reject) => {
    docker.modem.followProgress(stream, (err, result: BuildMessage[]) => (err === null ? resolve(result) : reject(err)))
  })
  const failure = messages.find((m) => m.error !== undefined)
  if (failure === undefined) return
  const output = messages.flatMap((m) => (m.stream ?? '').split('\n')).filter((l) => l.trim() !== '')
  throw new Error(`${failure.errorDetail?.message ?? failure.error ?? ''}`.trim() + `\n--- last lines of the build ---\n${output.slice(-25).join('\n')}`)
}

/**
 * Builds the repository's Dockerfile as `tag`, with NODE_IMAGE from the environment
 * (test/helpers/images.ts) as the base image, through the engine's API (what testcontainers
 * uses, but with the engine's own error and the build's last lines kept: testcontainers
 * reports only "Failed to build image"). Returns a container definition for it.
 *
 * A failed build is tried once more, its output printed first: an engine can fail a build
 * for reasons of its own (a network set up for a RUN step while other tests start
 * containers). The image is setup here, not the behaviour under test; a build that fails
 * twice fails every test in the file with both engines' messages.
 */
export async function buildImage(tag: string): Promise<GenericContainer> {
  const docker = (await engine()).container.dockerode
  const failures: string[] = []
  for (let attempt = 1; attempt <= 2; attempt++) {
    try {
      // First as a newcomer's `docker compose up --build` builds it (VERSION=dev), so the
      // engine's cache holds that build: the test's own must still get its own version.
      await buildOnce(docker, `${tag}-dev`, 'dev')
      await buildOnce(docker, tag)
      return new GenericContainer(tag)
    } catch (err) {
      failures.push(`attempt ${attempt}: ${err instanceof Error ? err.message : String(err)}`)
      console.warn(`docker build of ${repoRoot}Dockerfile failed, ${failures.at(-1)}`)
    }
  }
  throw new Error(
    `docker build of ${repoRoot}Dockerfile (NODE_IMAGE=${images.node}) failed twice; ` +
      `\`docker build --build-arg NODE_IMAGE=${images.node} .\` shows the whole output.\n${failures.join('\n')}`,
  )
}

/**
 * The test image: test/fixtures/Dockerfile, FROM `base` (the production image), adding the
 * test fixture (test/fixtures/*.ts: Node runs them by type stripping; they import only dist/
 * and each other) and running the fixture server instead of dist/server.js, with the same
 * preload. The production image itself is unchanged. A Dockerfile of its own rather than
 * one written here, so scripts/minikube.sh builds the same image for the cluster suite.
 */
export async function buildFixtureImage(base: string, tag: string): Promise<void> {
  const docker = (await engine()).container.dockerode
  const context = join(repoRoot, 'test/fixtures')
  const fixtures = readdirSync(context).filter((f) => f.endsWith('.ts'))
  await buildContext(docker, tag, context, ['Dockerfile', ...fixtures], { APP_IMAGE: base })
}

export async function removeImage(tag: string): Promise<void> {
  const client = await engine()
  for (const name of [tag, `${tag}-dev`]) {
    await client.container.dockerode
      .getImage(name)
      .remove({ force: true })
      .catch(() => undefined)
  }
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
  throw new Error(
    'Neither `docker compose` (v2) nor `docker-compose` (v1) is installed: the Compose test needs one of them. ' +
      'Install the Compose plugin: https://docs.docker.com/compose/install/ (Podman: install docker-compose and point DOCKER_HOST at its socket).',
  )
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
