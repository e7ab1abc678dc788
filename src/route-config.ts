// The per-route `config` keys this service reads, declared for the type checker. Fastify's
// FastifyContextConfig is empty until a plugin's types add to it; once one does
// (@fastify/otel adds `otel`, read by tracing), every key a route sets must be declared.
//  - metrics: false keeps a route out of http_request_duration_seconds (metrics.ts)
//  - pressureHandler: @fastify/under-pressure's per-route override (probes.ts)
//  - probe: true marks the probes, which app-wide hooks tell apart (app.ts)
//  - otel: false keeps a route untraced (@fastify/otel declares it)
import type { FastifyUnderPressureOptions } from '@fastify/under-pressure'

declare module 'fastify' {
  interface FastifyContextConfig {
    metrics?: boolean
    pressureHandler?: FastifyUnderPressureOptions['pressureHandler']
    probe?: boolean
  }
}
