// Capacity edges: Postgres connections at full scale, MAX_RSS_BYTES derived from the memory
// limit, and the replica count kept when an existing release switches to autoscaling.
import { afterEach, describe, expect, it } from 'vitest'
import { loadConfig } from '../../src/config.js'
import { expectRenderFails, expectRenders, getOne, namespace, render, type RenderOptions } from './helm.js'
import { startApiStub, type ApiStub } from './api-stub.js'
import { appDeployment, type ConfigMap } from './objects.js'

const urls = { DATABASE_URL: 'postgres://app:pw@db:5432/app', REDIS_URL: 'redis://cache:6379' }

describe.concurrent('Postgres connections at full scale: pgPoolMax x (replicas + maxSurge) <= maxConnections - reserve', () => {
  it('accepts exactly the budget: 10 x (8 + 1) = 90 = 100 - 10', async () => {
    await expectRenders({ replicaCount: 8 })
  })

  it('refuses one connection over, naming every number and what to change', async () => {
    await expectRenderFails(
      { replicaCount: 12, 'config.pgPoolMax': 7 },
      'Postgres connections: config.pgPoolMax (7) x (replicaCount (12) + surge pods (1, from updateStrategy.maxSurge 1)) = 91 > postgres.maxConnections (100) - postgres.reservedConnections (10) = 90.',
    )
    await expectRenderFails({ replicaCount: 12, 'config.pgPoolMax': 7 }, 'Lower config.pgPoolMax or the replica count, put a pooler such as PgBouncer in front')
  })

  it('rounds a percentage maxSurge up, as the Deployment controller does', async () => {
    // 12% of 8 = 0.96 -> 1 pod: 90 fits; 13% of 8 = 1.04 -> 2 pods: 100 does not (rounding down would say 1).
    await expectRenders({ replicaCount: 8, 'updateStrategy.maxSurge': '12%' })
    await expectRenderFails({ replicaCount: 8, 'updateStrategy.maxSurge': '13%' }, 'x (replicaCount (8) + surge pods (2, from updateStrategy.maxSurge 13%)) = 100 >')
    await expectRenderFails({ replicaCount: 9, 'updateStrategy.maxSurge': '25%' }, 'surge pods (3, from updateStrategy.maxSurge 25%)) = 120 >')
  })

  it('counts autoscaling.maxReplicas, not replicaCount, when the HPA is enabled', async () => {
    await expectRenders({ 'autoscaling.enabled': true, replicaCount: 50 })
    await expectRenderFails(
      { 'autoscaling.enabled': true, 'autoscaling.maxReplicas': 10 },
      'config.pgPoolMax (10) x (autoscaling.maxReplicas (10) + surge pods (1, from updateStrategy.maxSurge 1)) = 110 >',
    )
  })

  it('follows postgres.maxConnections and reservedConnections; 0 disables the check', async () => {
    await expectRenders({ replicaCount: 40, 'postgres.maxConnections': 500 })
    await expectRenderFails({ replicaCount: 8, 'postgres.reservedConnections': 11 }, '= 90 > postgres.maxConnections (100) - postgres.reservedConnections (11) = 89.')
    await expectRenders({ replicaCount: 500, 'postgres.maxConnections': 0 })
    await expectRenderFails({ 'postgres.reservedConnections': 100 }, 'postgres.reservedConnections (100) must be below postgres.maxConnections (100)')
  })
})

describe.concurrent('MAX_RSS_BYTES from the memory limit', () => {
  const rendered = async (set: Record<string, unknown>) => getOne<ConfigMap>(await render({ set }), 'ConfigMap').data

  // Expected values computed by hand: floor(bytes x 0.9).
  it.each([
    ['256Mi', 241_591_910], // 268435456 x 0.9 = 241591910.4
    ['1Gi', 966_367_641], // 1073741824 x 0.9 = 966367641.6
    ['1.5Gi', 1_449_551_462], // 1610612736 x 0.9 = 1449551462.4
    ['512Ki', 471_859], // 524288 x 0.9 = 471859.2
    ['500M', 450_000_000],
    ['2G', 1_800_000_000],
    ['268435456', 241_591_910], // plain bytes, as a string
    [268435456, 241_591_910], // plain bytes, as a YAML number
    ['128974848000m', 116_077_363], // milli-bytes: 128974848 bytes
  ])('limit %s -> %d, accepted by the app', async (limit, expected) => {
    const data = await rendered({ 'resources.limits.memory': limit })
    expect(data.MAX_RSS_BYTES).toBe(String(expected))
    expect(loadConfig({ ...data, ...urls }).maxRssBytes).toBe(expected)
  })

  it('uses config.maxRssLimitFraction', async () => {
    expect((await rendered({ 'config.maxRssLimitFraction': 0.5 })).MAX_RSS_BYTES).toBe('134217728')
    expect((await rendered({ 'config.maxRssLimitFraction': 1 })).MAX_RSS_BYTES).toBe('268435456')
  })

  it('renders 0 (check off) without a memory limit', async () => {
    const data = await rendered({ 'resources.limits': null })
    expect(data.MAX_RSS_BYTES).toBe('0')
    expect(loadConfig({ ...data, ...urls }).maxRssBytes).toBe(0)
  })

  it('passes an explicit byte count or 0 through unchanged', async () => {
    expect((await rendered({ 'config.maxRssBytes': 200_000_000 })).MAX_RSS_BYTES).toBe('200000000')
    expect((await rendered({ 'config.maxRssBytes': 0 })).MAX_RSS_BYTES).toBe('0')
  })

  it('refuses an explicit value at or above the limit: it could never fire before the OOM kill', async () => {
    await expectRenderFails(
      { 'config.maxRssBytes': 268435456 },
      'config.maxRssBytes (268435456) must be below resources.limits.memory (256Mi = 268435456 bytes): the OOM killer would end the pod before it sheds load.',
    )
  })
})

describe('replicas when autoscaling is enabled', () => {
  let stub: ApiStub | undefined
  afterEach(async () => {
    await stub?.close()
    stub = undefined
  })
  const liveDeployment = (replicas: number) => ({
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: 'rel-service-template', namespace },
    spec: { replicas },
  })
  const renderAgainst = async (opts: RenderOptions & { kubeconfig: string }) => appDeployment(await render(opts)).spec.replicas

  it('keeps the live count of an existing Deployment, so switching to the HPA does not scale it to 1', async () => {
    stub = await startApiStub([liveDeployment(5)])
    expect(await renderAgainst({ kubeconfig: stub.kubeconfig, set: { 'autoscaling.enabled': true } })).toBe(5)
    expect(stub.requests).toContain(`GET /apis/apps/v1/namespaces/${namespace}/deployments/rel-service-template`)
  })

  it('omits replicas when there is no Deployment yet (first install) or no cluster (helm template)', async () => {
    stub = await startApiStub([])
    expect(await renderAgainst({ kubeconfig: stub.kubeconfig, set: { 'autoscaling.enabled': true } })).toBeUndefined()
    expect(appDeployment(await render({ set: { 'autoscaling.enabled': true } })).spec.replicas).toBeUndefined()
  })

  it('uses replicaCount, not the live count, when autoscaling is disabled', async () => {
    stub = await startApiStub([liveDeployment(5)])
    expect(await renderAgainst({ kubeconfig: stub.kubeconfig, set: { replicaCount: 3 } })).toBe(3)
  })
})
