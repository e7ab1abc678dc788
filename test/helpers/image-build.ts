// Image builds through the engine's API (what testcontainers uses), with the engine's own
// error and the build's last lines kept: testcontainers reports only "Failed to build image".
// Used for the app image (test/image/support.ts) and for the test image on top of it
// (buildFixtureImage): the app image plus test/fixtures, running the fixture server, so
// suites that deploy an image (the cluster suite) test the service's behaviour through the
// test-only fixture routes, not through the example API a clone strips.
import { readdirSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { containerEngine } from './tools.js'

/** The test image's build context: test/fixtures, with its Dockerfile. */
export const fixtureContext = fileURLToPath(new URL('../fixtures/', import.meta.url))

/** One line of the engine's build stream (Docker API, also Podman's compat API). */
interface BuildMessage {
  stream?: string
  error?: string
  errorDetail?: { message?: string }
}

/**
 * The files under `root` (relative, '/'-separated) for the engine's client to pick the
 * build context from by the context's .dockerignore, as `docker build` does. .git and
 * node_modules are never walked: an allowlist keeps them out anyway, and they are most of the tree.
 */
export function contextFiles(root: string, dir = ''): string[] {
  return readdirSync(root + dir, { withFileTypes: true }).flatMap((entry) => {
    const path = dir + entry.name
    if (!entry.isDirectory()) return [path]
    return entry.name === '.git' || entry.name === 'node_modules' ? [] : contextFiles(root, path + '/')
  })
}

/** Builds `context` (its Dockerfile) as `tag`; resolves when the image is tagged, else throws with the end of the build's output. */
export async function engineBuild(context: string, tag: string, buildargs: Record<string, string>): Promise<void> {
  const docker = (await containerEngine()).container.dockerode
  const stream = await docker.buildImage({ context, src: contextFiles(context) }, { t: tag, buildargs })
  const messages = await new Promise<BuildMessage[]>((resolve, reject) => {
    docker.modem.followProgress(stream, (err, result: BuildMessage[]) => (err === null ? resolve(result) : reject(err)))
  })
  const failure = messages.find((m) => m.error !== undefined)
  if (failure === undefined) return
  const output = messages.flatMap((m) => (m.stream ?? '').split('\n')).filter((l) => l.trim() !== '')
  throw new Error(`${failure.errorDetail?.message ?? failure.error ?? ''}`.trim() + `\n--- last lines of the build ---\n${output.slice(-25).join('\n')}`)
}

/**
 * Builds test/fixtures/Dockerfile as `tag`: FROM `appImage` (built already, from the
 * repository's Dockerfile), plus test/fixtures, running the fixture server (the service's
 * routes, the fixture routes and migrations) with the image's own tracing preload.
 */
export async function buildFixtureImage(appImage: string, tag: string): Promise<void> {
  try {
    await engineBuild(fixtureContext, tag, { APP_IMAGE: appImage })
  } catch (err) {
    throw new Error(`docker build of ${fixtureContext}Dockerfile (APP_IMAGE=${appImage}) failed: ${err instanceof Error ? err.message : String(err)}`, { cause: err })
  }
}
