# Production image for the service: multi-stage, every stage on the same Node.js base.
#
#   docker build -t service-template .
#   docker build --build-arg NODE_IMAGE=registry.example.com/node:24-bookworm-slim \
#                --build-arg VERSION=$(node -p 'require("./package.json").version') -t ... .
#
# Plain Dockerfile syntax only (no `# syntax=` line, no RUN --mount): it builds the same
# with BuildKit, the legacy builder (what testcontainers uses) and Podman/Buildah, and
# needs no frontend image from a registry.

# Base image for every stage. Mirrors and air-gapped builds override it.
ARG NODE_IMAGE=node:24-bookworm-slim

# ---- build: all dependencies, compile TypeScript ----
FROM ${NODE_IMAGE} AS build
WORKDIR /app

# Manifests first: this layer (the slow `npm ci`) stays cached until they change.
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund

COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build

# ---- deps: production dependencies only, from the same lockfile ----
# A clean install of its own rather than `npm prune` in the build stage: prune leaves
# empty scope directories of dev dependencies behind, and this stage's cache layer only
# depends on the manifests, not on src/.
FROM ${NODE_IMAGE} AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund

# ---- runtime: production dependencies and compiled code, nothing else ----
FROM ${NODE_IMAGE} AS runtime

# No HOST: the service listens dual-stack (`::`) by default, for IPv6 and IPv4 clusters.
ENV NODE_ENV=production \
    PORT=8000

WORKDIR /app
# Owned by root, so the service (running as `node`) cannot rewrite its own code.
# package.json is needed at run time: its "type": "module" makes dist/*.js ES modules.
COPY package.json ./
COPY --from=deps /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist

# Last, so a new version rebuilds only these small layers. The no-op RUN step names the
# version: Podman's classic builder keys a cached LABEL layer without the build arguments,
# and returned an earlier build's image (version label "dev") unchanged; a RUN layer is
# keyed with them, so the label layer after it is new for a new VERSION.
ARG VERSION=dev
ARG SOURCE=https://github.com/example/k8s-fastify-service-template
RUN : "version ${VERSION}"
LABEL org.opencontainers.image.title="service-template" \
      org.opencontainers.image.description="Reference Fastify microservice for Kubernetes" \
      org.opencontainers.image.source="${SOURCE}" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.licenses="MIT"

# The image's `node` user (uid/gid 1000), given numerically so that Kubernetes'
# runAsNonRoot can verify it without a runAsUser in the pod spec.
USER 1000:1000
EXPOSE 8000

# Liveness for plain Docker/Compose (Kubernetes uses the chart's probes instead).
# No curl in the image: Node's own fetch; any error or non-2xx status is unhealthy.
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.PORT||8000)+'/health',{signal:AbortSignal.timeout(2500)}).then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]

# Exec form, node itself as PID 1: SIGTERM goes straight to the service, which drains
# and exits 0. Not `npm start` (nor a shell form): that puts a second process between
# the engine and the service, which must relay the signal and the exit status. The
# official image's entrypoint script is cleared too: nothing runs before node.
# The tracing preload (--import) runs before the service's modules, as OpenTelemetry's
# ESM instrumentation needs; with no OTEL_EXPORTER_OTLP_ENDPOINT it loads nothing.
ENTRYPOINT []
CMD ["node", "--import", "./dist/tracing.js", "dist/server.js"]
