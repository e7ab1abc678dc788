// Real dependencies for integration and process tests: Postgres and Redis containers,
// and optionally Toxiproxy in front of each so tests can cut, slow and blackhole the
// service's connections. Images come from test/helpers/images.ts.
import { PostgreSqlContainer, type StartedPostgreSqlContainer } from '@testcontainers/postgresql'
import { RedisContainer, type StartedRedisContainer } from '@testcontainers/redis'
import { ToxiProxyContainer, type CreatedProxy, type StartedToxiProxyContainer } from '@testcontainers/toxiproxy'
import { Network, type StartedNetwork } from 'testcontainers'
import { images } from './images.js'
import { containerEngine } from './tools.js'

export interface Stack {
  network: StartedNetwork
  postgres: StartedPostgreSqlContainer
  redis: StartedRedisContainer
  /** URLs the service should use (through Toxiproxy when enabled). */
  databaseUrl: string
  redisUrl: string
  /** Direct URL to Postgres, bypassing Toxiproxy: for the test's own queries. */
  directDatabaseUrl: string
  toxiproxy?: StartedToxiProxyContainer
  proxies?: { postgres: CreatedProxy; redis: CreatedProxy }
  stop(): Promise<void>
}

/**
 * Starts a container, once more if the engine lost the race for the host port it picked
 * ("bind: address already in use"): between its choice and its bind, a test's own
 * listener on port 0 may take the same port. Setup, not the behaviour under test.
 */
export async function startContainer<T>(start: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await start()
    } catch (err) {
      if (attempt >= 3 || !(err instanceof Error) || !err.message.includes('address already in use')) throw err
      console.warn(`container start lost a host port race, trying again: ${err.message}`)
    }
  }
}

/**
 * A container's address on the stack's network, for a Toxiproxy upstream: an IP, not the
 * network alias. Toxiproxy resolves the upstream on every connection it forwards, and the
 * engine's DNS (Podman's aardvark-dns) drops queries while it reloads, which it does on
 * every network and container change: with the suites' stacks starting and stopping in
 * parallel, a proxied connection could hang until the client's timeout.
 */
export function upstream(container: { getIpAddress(network: string): string }, network: StartedNetwork, port: number): string {
  return `${container.getIpAddress(network.getName())}:${port}`
}

export async function startStack({ toxiproxy = false }: { toxiproxy?: boolean } = {}): Promise<Stack> {
  await containerEngine() // a missing engine fails here, with a message that says what to install
  const network = await new Network().start()
  const [postgres, redis, proxy] = await Promise.all([
    startContainer(() =>
      new PostgreSqlContainer(images.postgres)
        .withNetwork(network)
        .withNetworkAliases('postgres')
        .withUsername('app')
        .withPassword('s3cret-pw')
        .withDatabase('app')
        .start(),
    ),
    startContainer(() => new RedisContainer(images.redis).withNetwork(network).withNetworkAliases('redis').start()),
    toxiproxy ? startContainer(() => new ToxiProxyContainer(images.toxiproxy).withNetwork(network).start()) : undefined,
  ])
  const directDatabaseUrl = postgres.getConnectionUri()
  let databaseUrl = directDatabaseUrl
  let redisUrl = `redis://${redis.getHost()}:${redis.getMappedPort(6379)}`
  let proxies: Stack['proxies']
  if (proxy) {
    proxies = {
      postgres: await proxy.createProxy({ name: 'postgres', upstream: upstream(postgres, network, 5432) }),
      redis: await proxy.createProxy({ name: 'redis', upstream: upstream(redis, network, 6379) }),
    }
    databaseUrl = `postgres://app:s3cret-pw@${proxies.postgres.host}:${proxies.postgres.port}/app`
    redisUrl = `redis://${proxies.redis.host}:${proxies.redis.port}`
  }
  return {
    network,
    postgres,
    redis,
    databaseUrl,
    redisUrl,
    directDatabaseUrl,
    ...(proxy ? { toxiproxy: proxy } : {}),
    ...(proxies ? { proxies } : {}),
    async stop() {
      await Promise.allSettled([postgres.stop(), redis.stop(), proxy?.stop()])
      await network.stop()
    },
  }
}
