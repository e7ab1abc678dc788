// This app's own dependency: an HTTP service at UPSTREAM_URL.
import fp from 'fastify-plugin'

declare module 'fastify' {
  interface FastifyInstance {
    upstream: {
      /** Resolves when the upstream answers its health check. */
      ping(): Promise<void>
      /** GET a path of the upstream, as JSON. */
      get(path: string): Promise<unknown>
    }
  }
}

export default fp(
  async (fastify) => {
    const base = process.env.UPSTREAM_URL ?? 'http://127.0.0.1:4000'
    async function get(path: string, timeoutMs = 10_000): Promise<unknown> {
      const res = await fetch(new URL(path, base), { signal: AbortSignal.timeout(timeoutMs) })
      if (!res.ok) throw new Error(`upstream answered ${res.status}`)
      return res.json()
    }
    fastify.decorate('upstream', {
      ping: async () => void (await get('/ping', 1000)),
      get: (path: string) => get(path),
    })
  },
  { name: 'upstream' },
)
