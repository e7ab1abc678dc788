// The production image and the Compose stack, end to end against a real engine.
//
// One file on purpose: the image is built once (beforeAll) and shared. The image tests
// run it next to Postgres and Redis on a container network, with its own CMD, and an
// image derived from it that runs the test fixture's server (test/fixtures/server.ts) for
// the tests that need a request in flight or a query; the Compose tests run
// `compose up --build` with APP_IMAGE set to the same tag, so Compose's build is served
// from the layer cache instead of a second cold `npm ci`.
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { PostgreSqlContainer, type StartedPostgreSqlContainer } from '@testcontainers/postgresql'
import { RedisContainer, type StartedRedisContainer } from '@testcontainers/redis'
import {
  GenericContainer,
  ImageName,
  Network,
  Wait,
  type StartedNetwork,
  type StartedTestContainer,
} from 'testcontainers'
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { parse } from 'yaml'
import { FIXTURE_ROWS } from '../fixtures/routes.js'
import { images } from '../helpers/images.js'
import { freePortOutsideEphemeralRange } from '../helpers/server.js'
import {
  buildFixtureImage,
  buildImage,
  TEST_VERSION,
  composeCli,
  engine,
  removeImage,
  repoRoot,
  run,
  statusOf,
  uniqueId,
  waitFor,
  type RunResult,
} from './support.js'

const asError = (err: unknown): Error => (err instanceof Error ? err : new Error(String(err)))

const PORT = 8000
const id = uniqueId()
const tag = `localhost/k8s-fastify-service-template:test-${id}`
const fixtureTag = `${tag}-fixture`

// A setup failure (no engine, a broken build) is recorded and rethrown by every test's
// beforeEach: each test then fails with that message instead of being reported skipped.
let buildError: Error | undefined
beforeAll(async () => {
  const started = Date.now()
  try {
    await buildImage(tag)
    await buildFixtureImage(tag, fixtureTag)
  } catch (err) {
    buildError = asError(err)
    return
  }
  console.info(`built ${tag} in ${((Date.now() - started) / 1000).toFixed(1)} s`)
}, 600_000)

afterAll(async () => {
  await removeImage(fixtureTag)
  await removeImage(tag)
})

// ---------------------------------------------------------------------------------
describe('Dockerfile (as written)', () => {
  const dockerfile = readFileSync(join(repoRoot, 'Dockerfile'), 'utf8')
  const instructions = dockerfile
    .replace(/\\\n/g, ' ')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'))

  it('declares ARG NODE_IMAGE (official default) before the first FROM, and every stage uses it', () => {
    const firstFrom = instructions.findIndex((l) => /^FROM\s/i.test(l))
    const arg = instructions.findIndex((l) => /^ARG\s+NODE_IMAGE=node:24-bookworm-slim$/i.test(l))
    expect(arg).toBeGreaterThanOrEqual(0)
    expect(arg).toBeLessThan(firstFrom)
    const froms = instructions.filter((l) => /^FROM\s/i.test(l))
    expect(froms.length).toBeGreaterThanOrEqual(2)
    for (const from of froms) expect(from).toMatch(/^FROM \$\{NODE_IMAGE\} AS \w+$/)
  })

  it('starts node directly in exec form, never npm', () => {
    const cmd = instructions.filter((l) => /^CMD\s/i.test(l)).at(-1)
    // The tracing preload first: it does nothing unless an OTLP endpoint is set (docs/tracing.md).
    expect(cmd).toBe('CMD ["node", "--import", "./dist/tracing.js", "dist/server.js"]')
    expect(dockerfile).not.toMatch(/^(CMD|ENTRYPOINT)\s.*npm/im)
  })
})

// ---------------------------------------------------------------------------------
describe('container image', () => {
  let network: StartedNetwork
  let postgres: StartedPostgreSqlContainer
  let redis: StartedRedisContainer
  let app: StartedTestContainer
  let base: string

  const appEnv = {
    DATABASE_URL: 'postgres://app:app-pw@postgres:5432/app',
    REDIS_URL: 'redis://redis:6379',
    LOG_LEVEL: 'warn',
  }
  /** The built image (or `image`) on the test network, started once /startup answers 200. */
  const startApp = (env: Record<string, string> = {}, image = tag): Promise<StartedTestContainer> =>
    new GenericContainer(image)
      .withNetwork(network)
      .withEnvironment({ ...appEnv, ...env })
      // The image EXPOSEs 8000: publish it, or the engine reports a binding that never comes.
      .withExposedPorts(PORT)
      .withWaitStrategy(Wait.forHttp('/startup', PORT).forStatusCode(200))
      .withStartupTimeout(90_000)
      .start()

  let setupError: Error | undefined
  beforeEach(() => {
    if (buildError !== undefined) throw buildError
    if (setupError !== undefined) throw setupError
  })

  beforeAll(async () => {
    if (buildError !== undefined) return
    try {
      await startStack()
    } catch (err) {
      setupError = asError(err)
    }
  }, 300_000)

  async function startStack(): Promise<void> {
    network = await new Network().start()
    ;[postgres, redis] = await Promise.all([
      new PostgreSqlContainer(images.postgres)
        .withNetwork(network)
        .withNetworkAliases('postgres')
        .withUsername('app')
        .withPassword('app-pw')
        .withDatabase('app')
        .start(),
      new RedisContainer(images.redis).withNetwork(network).withNetworkAliases('redis').start(),
    ])
    app = await startApp()
    base = `http://${app.getHost()}:${app.getMappedPort(PORT)}`
  }

  afterAll(async () => {
    await Promise.allSettled([app?.stop(), postgres?.stop(), redis?.stop()])
    await network?.stop()
  }, 120_000)

  it('answers /startup, /health and /ready with 200 next to real Postgres and Redis', async () => {
    for (const path of ['/startup', '/health']) expect(await statusOf(base + path), path).toBe(200)
    // Readiness checks both dependencies; allow the first checks a moment.
    await waitFor('/ready 200', async () => ((await statusOf(`${base}/ready`)) === 200 ? true : undefined), 30_000)
  })

  it('serves its OpenAPI document; the image with the fixture answers a query through its pool and a Redis round trip', async () => {
    expect(await statusOf(`${base}/openapi.json`)).toBe(200)
    const fixture = await startApp({}, fixtureTag)
    try {
      const url = `http://${fixture.getHost()}:${fixture.getMappedPort(PORT)}`
      const db = await fetch(`${url}/fixture/db`)
      const body = await db.text()
      const logs = async () => String(await (await engine()).container.dockerode.getContainer(fixture.getId()).logs({ stdout: true, stderr: true, follow: false }))
      expect(db.status, `${body}\n${db.status === 200 ? '' : await logs()}`).toBe(200)
      expect(JSON.parse(body)).toEqual({ rows: FIXTURE_ROWS })
      const put = await fetch(`${url}/fixture/cache/from-the-image-test`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ value: 'v1' }) })
      expect(put.status).toBe(204)
      expect(await (await fetch(`${url}/fixture/cache/from-the-image-test`)).json()).toEqual({ value: 'v1' })
      // The fixture image runs the same preload and the fixture entry, node as PID 1.
      const cmdline = await fixture.exec(['cat', '/proc/1/cmdline'])
      expect(cmdline.output.split('\0').filter(Boolean)).toEqual(['node', '--import', './dist/tracing.js', 'test/fixtures/server.ts'])
    } finally {
      await fixture.stop()
    }
  }, 120_000)

  it('runs as the non-root node user (uid 1000), with node itself as PID 1', async () => {
    const uid = await app.exec(['id', '-u'])
    expect(uid.exitCode).toBe(0)
    expect(uid.output.trim()).toBe('1000')
    expect((await app.exec(['id', '-un'])).output.trim()).toBe('node')
    // Exec-form CMD, no shell, npm or entrypoint script in between to swallow SIGTERM.
    const cmdline = await app.exec(['cat', '/proc/1/cmdline'])
    expect(cmdline.output.split('\0').filter(Boolean)).toEqual(['node', '--import', './dist/tracing.js', 'dist/server.js'])
  })

  it('turns healthy through its own HEALTHCHECK, which needs no curl', async () => {
    expect((await app.exec(['sh', '-c', 'command -v curl || echo none'])).output.trim()).toBe('none')
    const client = await engine()
    // Docker runs the check every --interval (10 s); here the engine's ticker every ~1 s.
    const health = await waitFor(
      'State.Health.Status = healthy',
      async () => {
        const info = await client.container.inspect(client.container.getById(app.getId()))
        return info.State.Health?.Status === 'healthy' ? info.State.Health : undefined
      },
      45_000,
      1_000,
    )
    expect(health.Status).toBe('healthy')
  })

  it('holds compiled code and production dependencies only: no sources, tests, dev dependencies or npm cache', async () => {
    // As root, so /root is readable too.
    const ls = async (script: string) => (await app.exec(['sh', '-c', script], { user: 'root' })).output
    const absent = [
      '/app/src',
      '/app/test',
      '/app/helm',
      '/app/tsconfig.json',
      '/app/.git',
      '/app/.env',
      '/root/.npm',
      '/home/node/.npm',
      '/app/.npm',
    ]
    const present = await ls(absent.map((p) => `[ -e ${p} ] && echo ${p}`).join('; ') + '; true')
    expect(present.trim().split('\n').filter(Boolean)).toEqual([])
    expect(await ls('ls /app | sort')).toBe('dist\nnode_modules\npackage.json\n')
    expect(await ls('[ -f /app/dist/server.js ] && echo yes')).toBe('yes\n')

    // Every top-level package in the image, compared with the lockfile's dev-only ones.
    // A scope directory with nothing in it is listed as such ("@scope/").
    const installed = new Set(
      (
        await ls(
          'cd /app/node_modules && for d in *; do case "$d" in ' +
            '@*) [ -z "$(ls -A "$d")" ] && echo "$d/"; for e in "$d"/*; do [ -d "$e" ] && echo "$e"; done ;; ' +
            '*) echo "$d" ;; esac; done',
        )
      )
        .split('\n')
        .filter((n) => n !== ''),
    )
    const lock = JSON.parse(readFileSync(join(repoRoot, 'package-lock.json'), 'utf8')) as {
      packages: Record<string, { dev?: boolean }>
    }
    const devOnly = Object.entries(lock.packages)
      .filter(([path, meta]) => meta.dev === true && /^node_modules\/(@[^/]+\/)?[^/]+$/.test(path))
      .map(([path]) => path.slice('node_modules/'.length))
    expect(devOnly).toEqual(expect.arrayContaining(['typescript', 'vitest', 'testcontainers', 'eslint']))
    expect(devOnly.filter((name) => installed.has(name))).toEqual([])
    // Empty scope directories (left behind by `npm prune`) would still name dev tools.
    expect([...installed].filter((n) => n.endsWith('/'))).toEqual([])
    const pkg = JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as { dependencies: Record<string, string> }
    for (const dep of Object.keys(pkg.dependencies)) expect(installed, dep).toContain(dep)
  })

  it('sets NODE_ENV=production, EXPOSEs the port and carries the OCI labels', async () => {
    expect((await app.exec(['node', '-p', 'process.env.NODE_ENV'])).output.trim()).toBe('production')
    const client = await engine()
    const info = await client.image.inspect(ImageName.fromString(tag))
    const labels = info.Config.Labels ?? {}
    // The VERSION build arg, though a VERSION=dev build of the same tree is in the engine's cache.
    expect(labels['org.opencontainers.image.version']).toBe(TEST_VERSION)
    expect(labels['org.opencontainers.image.title']).toBe('k8s-fastify-service-template')
    expect(labels['org.opencontainers.image.source']).toMatch(/^https:\/\//)
    expect(Object.keys(info.Config.ExposedPorts ?? {})).toContain(`${PORT}/tcp`)
  })

  /** `docker stop` with a 30 s grace period (SIGTERM, then SIGKILL only if still running): how it ended, and how long it took. */
  async function dockerStop(container: StartedTestContainer) {
    const started = Date.now()
    await container.stop({ timeout: 30_000, remove: false })
    const stopMs = Date.now() - started
    const client = await engine()
    const stopped = client.container.getById(container.getId())
    const state = (await client.container.inspect(stopped)).State
    await client.container.remove(stopped, { removeVolumes: true })
    return { state, stopMs }
  }

  it('its own CMD: `docker stop` ends it with exit 0 (SIGTERM reaches node as PID 1), well within the grace period', async () => {
    const { state, stopMs } = await dockerStop(await startApp({ DRAIN_DELAY_MS: '500', SHUTDOWN_TIMEOUT_MS: '10000' }))
    expect(state.ExitCode).toBe(0) // 137 would mean SIGKILL at the end of the grace period
    expect(stopMs).toBeLessThan(10_000)
  }, 120_000)

  it('on SIGTERM finishes the in-flight request and exits 0, well within the grace period', async () => {
    const drained = await startApp({ DRAIN_DELAY_MS: '500', SHUTDOWN_TIMEOUT_MS: '10000' }, fixtureTag)
    const url = `http://${drained.getHost()}:${drained.getMappedPort(PORT)}`
    const slow = fetch(`${url}/fixture/slow?ms=2000`, { signal: AbortSignal.timeout(20_000) }).then(async (r) => ({
      status: r.status,
      body: await r.text(),
    }))
    slow.catch(() => undefined) // asserted below; no unhandled rejection meanwhile
    await new Promise((r) => setTimeout(r, 300)) // the request is now in flight

    const { state, stopMs } = await dockerStop(drained)
    const response = await slow
    expect(response.status).toBe(200)
    expect(state.ExitCode).toBe(0) // 137 would mean SIGKILL at the end of the grace period
    expect(state.OOMKilled).toBe(false)
    // Drain delay 0.5 s + the rest of the 2 s request + closing: far from 30 s.
    expect(stopMs).toBeLessThan(10_000)
    console.info(`stop with an in-flight request took ${stopMs} ms (exit ${state.ExitCode})`)
  }, 120_000)

  it('exits non-zero on invalid configuration, with the reason in the log', async () => {
    // Also shows that this engine reports real exit codes for the assertion above.
    const client = await engine()
    const container = await client.container.create({
      Image: tag,
      Env: ['REDIS_URL=redis://redis:6379'], // no DATABASE_URL
      HostConfig: { PublishAllPorts: true },
    })
    try {
      await client.container.start(container)
      const { StatusCode } = (await container.wait()) as { StatusCode: number }
      const logs = (await container.logs({ stdout: true, stderr: true, follow: false })).toString('utf8')
      expect(StatusCode).toBe(78)
      expect(logs).toContain('DATABASE_URL')
    } finally {
      await client.container.remove(container, { removeVolumes: true }).catch(() => undefined)
    }
  })
})

// ---------------------------------------------------------------------------------
describe('docker-compose.yml (as written)', () => {
  const file = parse(readFileSync(join(repoRoot, 'docker-compose.yml'), 'utf8')) as {
    version?: unknown
    services: Record<string, Record<string, unknown>>
  }

  it('has no top-level version (Compose Specification: read by v1.27+ and v2 alike)', () => {
    expect(file.version).toBeUndefined()
    expect(Object.keys(file.services).sort()).toEqual(['app', 'jaeger', 'postgres', 'redis'])
    // Jaeger only under its profile: a plain `up` starts the three others.
    expect(file.services.jaeger?.profiles).toEqual(['tracing'])
    const app = file.services.app as {
      depends_on: Record<string, { condition: string }>
      stop_grace_period: string
      ports: string[]
      healthcheck: unknown
      build: { args: Record<string, string> }
    }
    expect(app.depends_on).toEqual({
      postgres: { condition: 'service_healthy' },
      redis: { condition: 'service_healthy' },
    })
    expect(app.ports).toEqual(['${PORT:-8000}:8000'])
    expect(app.healthcheck).toBeDefined()
    expect(app.build.args.NODE_IMAGE).toBe('${NODE_IMAGE:-node:24-bookworm-slim}')
    // Longer than the service's default shutdown deadline (SHUTDOWN_TIMEOUT_MS=15000).
    expect(Number(/^(\d+)s$/.exec(app.stop_grace_period)?.[1])).toBeGreaterThan(15)
    expect(file.services.postgres?.image).toBe('${POSTGRES_IMAGE:-postgres:17-alpine}')
    expect(file.services.redis?.image).toBe('${REDIS_IMAGE:-redis:7-alpine}')
    // Published for the dev loop (npm run dev on the host), on the loopback address only.
    expect(file.services.postgres?.ports).toEqual(['127.0.0.1:${POSTGRES_PORT:-5432}:5432'])
    expect(file.services.redis?.ports).toEqual(['127.0.0.1:${REDIS_PORT:-6379}:6379'])
  })
})

// ---------------------------------------------------------------------------------
describe('docker-compose.yml (live stack)', () => {
  const project = `tpl${id}`
  let cli: Awaited<ReturnType<typeof composeCli>>
  let hostPort: number
  let env: NodeJS.ProcessEnv
  let upResult: RunResult | undefined

  const compose = (args: string[], timeoutMs = 120_000) =>
    run(cli.file, [...cli.prefix, '-p', project, '-f', join(repoRoot, 'docker-compose.yml'), ...args], {
      env,
      timeoutMs,
    })
  const explain = (r: RunResult) => `exit ${r.code}\n${r.stdout.slice(-4000)}\n${r.stderr.slice(-4000)}`

  let setupError: Error | undefined
  beforeEach(() => {
    if (buildError !== undefined) throw buildError
    if (setupError !== undefined) throw setupError
  })

  beforeAll(async () => {
    try {
      cli = await composeCli()
    } catch (err) {
      setupError = asError(err)
      return
    }
    hostPort = await freePortOutsideEphemeralRange()
    env = {
      ...process.env,
      APP_IMAGE: tag, // the image built above: Compose's build is then a cache hit
      NODE_IMAGE: images.node,
      POSTGRES_IMAGE: images.postgres,
      REDIS_IMAGE: images.redis,
      PORT: String(hostPort),
      // Free ports too: a developer's or another run's Postgres may hold 5432 and 6379.
      POSTGRES_PORT: String(await freePortOutsideEphemeralRange()),
      REDIS_PORT: String(await freePortOutsideEphemeralRange()),
      DRAIN_DELAY_MS: '500',
      LOG_LEVEL: 'warn',
    }
    delete env.COMPOSE_FILE
    delete env.COMPOSE_PROJECT_NAME
  })

  afterAll(async () => {
    if (setupError !== undefined || buildError !== undefined) return
    // The app was stopped gracefully above; what is left (Postgres, Redis) may be killed
    // after 5 s (the locally built Postgres image here ignores its stop signal).
    const down = await compose(['down', '-v', '--remove-orphans', '-t', '5'])
    if (down.code !== 0) console.warn(`compose down failed: ${explain(down)}`)
  }, 120_000)

  it('is accepted by the installed Compose CLI', async () => {
    const config = await compose(['config', '-q'], 30_000)
    expect(config.code, `${cli.version}: ${explain(config)}`).toBe(0)
  })

  it('`up --build` brings up a healthy stack whose /ready answers 200', async () => {
    const started = Date.now()
    upResult = await compose(['up', '-d', '--build'], 480_000)
    expect(upResult.code, explain(upResult)).toBe(0)
    const url = `http://127.0.0.1:${hostPort}`
    await waitFor('/ready 200 through the published port', async () => ((await statusOf(`${url}/ready`)) === 200 ? true : undefined), 90_000)
    expect(await statusOf(`${url}/health`)).toBe(200)

    // Every service healthy by its own healthcheck.
    const client = await engine()
    const containers = await client.container.dockerode.listContainers({
      all: true,
      filters: { label: [`com.docker.compose.project=${project}`] },
    })
    expect(containers.map((c) => c.Labels['com.docker.compose.service']).sort()).toEqual(['app', 'postgres', 'redis'])
    await waitFor(
      'all compose services healthy',
      async () => {
        const states = await Promise.all(
          containers.map(async (c) => (await client.container.inspect(client.container.getById(c.Id))).State.Health?.Status),
        )
        return states.every((s) => s === 'healthy') ? states : undefined
      },
      45_000,
      1_000,
    )
    console.info(`compose up --build to /ready 200: ${Date.now() - started} ms (${cli.version})`)
  }, 600_000) // BuildKit (Compose v2) does not share the classic builder's cache: may be a cold build

  it('`stop` ends the app gracefully (exit 0) well inside stop_grace_period', async () => {
    expect(upResult?.code, 'the stack did not come up').toBe(0)
    const started = Date.now()
    const stop = await compose(['stop', 'app'], 60_000)
    const stopMs = Date.now() - started
    expect(stop.code, explain(stop)).toBe(0)
    const client = await engine()
    const [app] = await client.container.dockerode.listContainers({
      all: true,
      filters: { label: [`com.docker.compose.project=${project}`, 'com.docker.compose.service=app'] },
    })
    expect(app).toBeDefined()
    const state = (await client.container.inspect(client.container.getById(app!.Id))).State
    expect(state.ExitCode).toBe(0)
    expect(stopMs).toBeLessThan(15_000)
  })
})
