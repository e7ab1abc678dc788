// A small example API, so the template shows the pattern (Postgres as the store,
// Redis as a cache-aside that may fail without failing the request) and the drain
// tests have real traffic. Replace it with your own routes.
import { setTimeout as sleep } from 'node:timers/promises'
import type { FastifyInstance } from 'fastify'

export interface ItemsOptions {
  cacheTtlSeconds: number
}

interface Item {
  id: string
  name: string
  created_at: string
}

const itemSchema = {
  type: 'object',
  properties: { id: { type: 'string' }, name: { type: 'string' }, created_at: { type: 'string' } },
} as const

export async function itemRoutes(app: FastifyInstance, { cacheTtlSeconds }: ItemsOptions) {
  app.get('/items', { schema: { response: { 200: { type: 'array', items: itemSchema } } } }, async () => {
    const { rows } = await app.pg.query<Item>('SELECT id::text, name, created_at FROM items ORDER BY id DESC LIMIT 50')
    return rows
  })

  app.post<{ Body: { name: string } }>(
    '/items',
    {
      schema: {
        body: {
          type: 'object',
          required: ['name'],
          additionalProperties: false,
          properties: { name: { type: 'string', minLength: 1, maxLength: 200 } },
        },
        response: { 201: itemSchema },
      },
    },
    async (req, reply) => {
      const { rows } = await app.pg.query<Item>(
        'INSERT INTO items (name) VALUES ($1) RETURNING id::text, name, created_at',
        [req.body.name],
      )
      return reply.code(201).send(rows[0])
    },
  )

  app.get<{ Params: { id: string } }>(
    '/items/:id',
    {
      schema: {
        params: { type: 'object', properties: { id: { type: 'string', pattern: '^[1-9][0-9]{0,17}$' } } },
        response: { 200: itemSchema },
      },
    },
    async (req, reply) => {
      const key = `item:${req.params.id}`
      // The cache is an optimisation: when Redis is down, serve from Postgres.
      const cached = await app.redis.get(key).catch((err: Error) => {
        req.log.warn({ reason: err.message }, 'cache read failed, bypassing')
        return undefined
      })
      if (typeof cached === 'string') return reply.header('x-cache', 'hit').send(JSON.parse(cached) as Item)
      const { rows } = await app.pg.query<Item>('SELECT id::text, name, created_at FROM items WHERE id = $1', [req.params.id])
      const item = rows[0]
      if (!item) return reply.code(404).send({ statusCode: 404, error: 'Not Found', message: `item ${req.params.id} not found` })
      if (cached === null) {
        await app.redis.set(key, JSON.stringify(item), 'EX', cacheTtlSeconds).catch((err: Error) => {
          req.log.warn({ reason: err.message }, 'cache write failed')
        })
      }
      return reply.header('x-cache', cached === null ? 'miss' : 'bypass').send(item)
    },
  )

  // Simulates a slow request (a report, an upload): the drain tests use it to show
  // that a request in flight when SIGTERM arrives still completes.
  app.get<{ Querystring: { ms: number } }>(
    '/slow',
    {
      schema: {
        querystring: { type: 'object', properties: { ms: { type: 'integer', minimum: 0, maximum: 10000, default: 1000 } } },
      },
    },
    async (req) => {
      await sleep(req.query.ms)
      return { waitedMs: req.query.ms }
    },
  )
}
