// A small example API, so the template shows the pattern (Postgres as the store,
// Redis as a cache-aside that may fail without failing the request) and the drain
// tests have real traffic. Replace it with your own routes.
// Its contract is written once, below, in TypeBox: the handlers are typed from it, Fastify
// validates requests and serialises responses with it, and the OpenAPI spec is made from it.
import { setTimeout as sleep } from 'node:timers/promises'
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import type { FastifyInstance } from 'fastify'
import { Type, type Static } from 'typebox'
import { errorResponses } from '../plugins/api-contract.js'

export interface ItemsOptions {
  cacheTtlSeconds: number
}

// A bigint identity, in decimal: no leading zero, below 2^63.
const ItemId = Type.String({ pattern: '^[1-9][0-9]{0,17}$', description: 'The item id (a positive integer, as a string)', examples: ['42'] })

const ItemName = Type.String({
  minLength: 1,
  maxLength: 200,
  // Postgres text cannot hold U+0000: refused here with a 400, not by the database with a 500.
  pattern: '^[^\\u0000]*$',
  examples: ['first item'],
})

export const Item = Type.Object(
  { id: ItemId, name: ItemName, created_at: Type.String({ format: 'date-time' }) },
  { additionalProperties: false, description: 'An item' },
)
type Item = Static<typeof Item>

export const NewItem = Type.Object({ name: ItemName }, { additionalProperties: false })

// Below Schemathesis' (and most clients') 10 s response timeout.
export const SLOW_MAX_MS = 9000
const SLOW_DEFAULT_MS = 1000

/** A row as pg returns it: timestamptz as a Date. */
interface ItemRow {
  id: string
  name: string
  created_at: Date
}
const toItem = (row: ItemRow): Item => ({ id: row.id, name: row.name, created_at: row.created_at.toISOString() })

export async function itemRoutes(fastify: FastifyInstance, { cacheTtlSeconds }: ItemsOptions) {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>()

  app.get(
    '/items',
    {
      schema: {
        tags: ['example'],
        summary: 'The 50 newest items',
        response: { 200: Type.Array(Item, { description: 'Newest first' }), ...errorResponses() },
      },
    },
    async () => {
      const { rows } = await app.pg.query<ItemRow>('SELECT id::text, name, created_at FROM items ORDER BY id DESC LIMIT 50')
      return rows.map(toItem)
    },
  )

  app.post(
    '/items',
    {
      schema: {
        tags: ['example'],
        summary: 'Create an item',
        body: NewItem,
        response: { 201: Type.Object(Item.properties, { additionalProperties: false, description: 'Created' }), ...errorResponses(400, 413, 415) },
      },
    },
    async (req, reply) => {
      const { rows } = await app.pg.query<ItemRow>('INSERT INTO items (name) VALUES ($1) RETURNING id::text, name, created_at', [req.body.name])
      return reply.code(201).send(toItem(rows[0] as ItemRow))
    },
  )

  app.get(
    '/items/:id',
    {
      schema: {
        tags: ['example'],
        summary: 'One item, from the Redis cache when there',
        params: Type.Object({ id: ItemId }),
        response: {
          200: Type.Object(Item.properties, {
            additionalProperties: false,
            description: 'The item',
            headers: { 'x-cache': { type: 'string', enum: ['hit', 'miss', 'bypass'], description: 'bypass: Redis is down' } },
          }),
          ...errorResponses(400, 404),
        },
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
      const { rows } = await app.pg.query<ItemRow>('SELECT id::text, name, created_at FROM items WHERE id = $1', [req.params.id])
      const row = rows[0]
      if (!row) return reply.code(404).send({ statusCode: 404, error: 'Not Found', message: `item ${req.params.id} not found` })
      const item = toItem(row)
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
  app.get(
    '/slow',
    {
      schema: {
        tags: ['example'],
        summary: 'Answers after a delay (for drain tests)',
        // Optional: a parameter with a default is not required (the default fills it in).
        querystring: Type.Object({ ms: Type.Optional(Type.Integer({ minimum: 0, maximum: SLOW_MAX_MS, default: SLOW_DEFAULT_MS, description: 'How long to wait' })) }),
        response: { 200: Type.Object({ waitedMs: Type.Integer({ minimum: 0 }) }, { additionalProperties: false }), ...errorResponses(400) },
      },
    },
    async (req) => {
      const { ms = SLOW_DEFAULT_MS } = req.query
      await sleep(ms)
      return { waitedMs: ms }
    },
  )
}
