// Images used by the container-backed tests. Mirrors and air-gapped CI override them
// through the environment; the defaults are the official images.
export const images = {
  postgres: process.env.POSTGRES_IMAGE ?? 'postgres:17-alpine',
  redis: process.env.REDIS_IMAGE ?? 'redis:7-alpine',
  toxiproxy: process.env.TOXIPROXY_IMAGE ?? 'ghcr.io/shopify/toxiproxy:2.12.0',
  node: process.env.NODE_IMAGE ?? 'node:24-bookworm-slim',
  prometheus: process.env.PROMETHEUS_IMAGE ?? 'prom/prometheus:v3.5.0',
  jaeger: process.env.JAEGER_IMAGE ?? 'jaegertracing/jaeger:2.11.0',
  // Its entrypoint is the `st` CLI.
  schemathesis: process.env.SCHEMATHESIS_IMAGE ?? 'schemathesis/schemathesis:v4.32.5',
} as const
