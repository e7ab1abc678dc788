// Global setup of the cluster suite: resolve the context and settings, check the cluster
// answers, build the app image and the test image on top of it (test/fixtures/Dockerfile),
// copy the test image (and the dev Postgres/Redis images) into the cluster, and start from
// empty namespaces. The teardown deletes them (CLUSTER_KEEP=1 keeps
// them) and writes results/summary.md. Nothing is skipped: a missing tool or cluster fails.
import { rmSync } from 'node:fs'
import type { TestProject } from 'vitest/node'
import { buildFixtureImage, buildImage } from '../image/support.js'
import { command, Kube } from './kube.js'
import { writeSummary } from './results.js'
import { loadCommand, resolveSettings, type ClusterSettings } from './settings.js'

declare module 'vitest' {
  export interface ProvidedContext {
    cluster: ClusterSettings
  }
}

async function resetNamespace(k: Kube, name: string): Promise<void> {
  await k.kubectl(['delete', 'namespace', name, '--ignore-not-found', '--wait=true'], { timeoutMs: 300_000 })
  await k.kubectl(['create', 'namespace', name])
}

export default async function setup(project: TestProject) {
  const began = Date.now()
  const s = await resolveSettings()
  const k = new Kube(s.context, 'default', s.helm)
  console.log(
    `[cluster] context ${s.context} (${s.server}), namespace ${s.namespace}, image ${s.image.ref} (loader: ${s.loader}, build: ${s.build})`,
  )
  const nodes = await k.json<{ items: { metadata: { name: string }; status: { conditions: { type: string; status: string }[] } }[] }>(['get', 'nodes'])
  const notReady = nodes.items.filter((n) => !n.status.conditions.some((c) => c.type === 'Ready' && c.status === 'True'))
  if (nodes.items.length === 0 || notReady.length > 0) {
    throw new Error(`the cluster's nodes are not Ready: ${notReady.map((n) => n.metadata.name).join(', ') || 'no nodes'}`)
  }

  if (s.build) {
    const t0 = Date.now()
    await buildImage(s.appImage)
    await buildFixtureImage(s.appImage, s.image.ref)
    console.log(`[cluster] built ${s.appImage} and ${s.image.ref} in ${((Date.now() - t0) / 1000).toFixed(0)} s`)
  }
  const images = [s.image.ref, s.postgresImage, s.redisImage].filter((i): i is string => i !== undefined)
  const load = loadCommand(s, images)
  if (load) {
    const t0 = Date.now()
    const r = await command(load[0], load[1], { timeoutMs: 900_000 })
    if (r.code !== 0) throw new Error(`loading images into the cluster failed (${load[0]} ${load[1].join(' ')}): ${r.stderr.trim()}`)
    console.log(`[cluster] loaded ${images.join(', ')} with ${s.loader} in ${((Date.now() - t0) / 1000).toFixed(0)} s`)
  }

  rmSync(s.resultsDir, { recursive: true, force: true })
  await resetNamespace(k, s.namespace)
  await resetNamespace(k, s.gatingNamespace)
  project.provide('cluster', s)
  console.log(`[cluster] setup took ${((Date.now() - began) / 1000).toFixed(0)} s`)

  return async () => {
    if (!s.keep) {
      for (const ns of [s.namespace, s.gatingNamespace]) {
        await k.tryKubectl(['delete', 'namespace', ns, '--ignore-not-found', '--wait=true'], { timeoutMs: 300_000 })
      }
    }
    const summary = writeSummary(s.resultsDir, [
      '# Cluster suite results',
      '',
      `Context \`${s.context}\` (${s.server}), image loader \`${s.loader}\`, ${new Date().toISOString()}, ` +
        `suite runtime ${((Date.now() - began) / 1000).toFixed(0)} s.`,
    ])
    console.log(`[cluster] summary: ${summary}`)
  }
}
