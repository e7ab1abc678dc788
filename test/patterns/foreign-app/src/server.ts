// The entry point (`fastify start` in a fastify-cli app): build, listen, close on a signal.
import Fastify from 'fastify'
import app from './app.js'

const server = Fastify({ logger: { level: process.env.LOG_LEVEL ?? 'info' } })
await server.register(app)
for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.once(signal, () => void server.close().then(() => process.exit(0)))
}
await server.listen({ port: Number(process.env.PORT ?? 3000), host: process.env.HOST ?? '127.0.0.1' })
