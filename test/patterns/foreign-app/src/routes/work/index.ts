import type { FastifyPluginAsync } from 'fastify'

// GET /work: answered from the upstream, so it takes as long as the upstream does.
const work: FastifyPluginAsync = async (fastify) => {
  fastify.get('/', async () => ({ work: await fastify.upstream.get('/work') }))
}

export default work
