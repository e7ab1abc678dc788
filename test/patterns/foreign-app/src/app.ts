import * as path from 'node:path'
import { fileURLToPath } from 'node:url'
import AutoLoad, { type AutoloadPluginOptions } from '@fastify/autoload'
import type { FastifyPluginAsync } from 'fastify'

const __dirname = path.dirname(fileURLToPath(import.meta.url))

export type AppOptions = Partial<AutoloadPluginOptions>

const app: FastifyPluginAsync<AppOptions> = async (fastify, opts) => {
  // Support plugins, shared by the routes.
  void fastify.register(AutoLoad, { dir: path.join(__dirname, 'plugins'), options: opts, forceESM: true })
  // Routes: one plugin per file, a directory per prefix.
  void fastify.register(AutoLoad, { dir: path.join(__dirname, 'routes'), options: opts, forceESM: true })
}

export default app
