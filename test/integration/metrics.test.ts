// A real Prometheus scrapes the built server's metrics listener while real Postgres and
// Redis, behind Toxiproxy, are cut and restored. Assertions go through Prometheus' HTTP
// API: the target is up, readiness metrics flip with the dependency and back, and the
// docs/metrics.md's example alerts load (promtool check rules) and fire when they should.
//
// The service runs on the host (a child process on 127.0.0.1) and Prometheus in a
// container on the host's network namespace, so the scrape stays on the loopback
// interface (Linux; PROMETHEUS_IMAGE overrides the image, see test/helpers/images.ts).
import { readFile, writeFile, mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { GenericContainer, Wait, type StartedTestContainer } from 'testcontainers'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { FIXTURE_ROWS } from '../fixtures/routes.js'
import { images } from '../helpers/images.js'
import { expectAlive, until } from '../helpers/integration-probes.js'
import { promtool, sample } from '../helpers/metrics.js'
import { freePortOutsideEphemeralRange, type ServerProcess } from '../helpers/server.js'
import type { Stack } from '../helpers/stack.js'
import { startBehindToxiproxy } from '../helpers/suite.js'

const SCRAPE_INTERVAL = '1s'
const RULES_PATH = '/etc/prometheus/alerts.yml'

let stack: Stack
let server: ServerProcess
let prometheus: StartedTestContainer
let api: string
/** The kubelet stand-in: /ready probed every 500 ms, as a readinessProbe would. */
let prober: NodeJS.Timeout | undefined
let alertRules: string

beforeAll(async () => {
  alertRules = docAlertRules(await readFile(new URL('../../docs/metrics.md', import.meta.url), 'utf8'))
  const started = await startBehindToxiproxy({
    READY_CHECK_TIMEOUT_MS: '1000',
    // The last test runs a shutdown into its deadline: short enough for a test.
    DRAIN_DELAY_MS: '1000',
    SHUTDOWN_TIMEOUT_MS: '8000',
  })
  stack = started.stack
  server = started.server
  prober = setInterval(() => void fetch(`${server.url}/ready`).then((r) => r.arrayBuffer()).catch(() => undefined), 500)
  const metrics = new URL(server.metricsUrl)
  const port = await freePortOutsideEphemeralRange()
  const config = [
    'global:',
    `  scrape_interval: ${SCRAPE_INTERVAL}`,
    `  evaluation_interval: ${SCRAPE_INTERVAL}`,
    'rule_files:',
    `  - ${RULES_PATH}`,
    'scrape_configs:',
    '  - job_name: service-template',
    '    static_configs:',
    `      - targets: ["${metrics.host}"]`,
    '',
  ].join('\n')
  prometheus = await new GenericContainer(images.prometheus)
    // The host's network: the service's 127.0.0.1 is Prometheus' too.
    .withNetworkMode('host')
    .withCopyContentToContainer([
      { content: config, target: '/etc/prometheus/prometheus.yml', mode: 0o644 },
      { content: alertRules, target: RULES_PATH, mode: 0o644 },
    ])
    .withCommand(['--config.file=/etc/prometheus/prometheus.yml', '--storage.tsdb.path=/prometheus', `--web.listen-address=127.0.0.1:${port}`])
    .withWaitStrategy(Wait.forLogMessage(/Server is ready to receive web requests/))
    .withStartupTimeout(120_000)
    .start()
  api = `http://127.0.0.1:${port}/api/v1`
})

afterAll(async () => {
  clearInterval(prober)
  await prometheus?.stop()
  await server?.stop()
  await stack?.stop()
})

interface Vector {
  metric: Record<string, string>
  value: [number, string]
}
async function query(promql: string): Promise<Vector[]> {
  const res = await fetch(`${api}/query?query=${encodeURIComponent(promql)}`)
  const body = (await res.json()) as { status: string; data: { resultType: string; result: Vector[] }; error?: string }
  expect(body.status, body.error).toBe('success')
  return body.data.result
}
/** The single value of a PromQL query, or undefined while it has none. */
async function value(promql: string): Promise<number | undefined> {
  const result = await query(promql)
  if (result.length > 1) throw new Error(`${promql}: ${result.length} series`)
  return result[0] ? Number(result[0].value[1]) : undefined
}
const untilValue = (promql: string, expected: number, timeoutMs = 45_000) =>
  until(`${promql} == ${expected} in Prometheus`, async () => (await value(promql)) === expected, { timeoutMs, intervalMs: 500 })

describe('Prometheus scraping the service', () => {
  it('the target is up, and the metrics it scraped answer PromQL', async () => {
    await until(
      'target up',
      async () => {
        const res = (await (await fetch(`${api}/targets`)).json()) as { data: { activeTargets: Array<{ health: string; lastError: string; scrapeUrl: string }> } }
        const [target, ...others] = res.data.activeTargets
        if (!target) return false
        expect(others).toEqual([])
        expect(target.scrapeUrl).toBe(server.metricsUrl)
        return target.health === 'up'
      },
      { timeoutMs: 45_000, intervalMs: 500 },
    )
    expect(await value('up{job="service-template"}')).toBe(1)
    await untilValue('lifecycle_phase{phase="ready"}', 1)
    await untilValue('readiness_check_up{check="postgres",critical="true"}', 1)
    await untilValue('redis_connection_state{state="ready"}', 1)
    // Business traffic in the request histogram, by route pattern.
    for (let i = 0; i < 3; i++) expect((await fetch(`${server.url}/fixture/items/${FIXTURE_ROWS + 1 + i}`)).status).toBe(404)
    await untilValue('sum(http_request_duration_seconds_count{route="/fixture/items/:id",status_code="404"})', 3)
    // The prober's /ready requests run readiness rounds (TTL 0: one per probe).
    const rounds = await value('readiness_rounds_total')
    await until('readiness rounds growing', async () => ((await value('readiness_rounds_total')) ?? 0) > (rounds ?? 0), { timeoutMs: 20_000, intervalMs: 500 })
    expect(await value('pg_pool_clients')).toBeGreaterThanOrEqual(1)
    expectAlive(server)
  })

  it('promtool check metrics finds no problems in the live exposition', async () => {
    expect((await fetch(`${server.url}/ready`)).status).toBe(200)
    const text = await (await fetch(server.metricsUrl)).text()
    expect(sample(text, 'readiness_check_up', { check: 'postgres' })).toBe(1)
    const { code, output } = await promtool(['check', 'metrics'], text)
    expect(output).toBe('')
    expect(code).toBe(0)
  })

  it('Postgres cut: its readiness check goes down in Prometheus and the not-ready alert goes pending; restored, both clear', async () => {
    const up = 'readiness_check_up{check="postgres",critical="true"}'
    await untilValue(up, 1)
    expect(await query('ALERTS{alertname="ServiceTemplatePodNotReady"}')).toEqual([])
    await stack.proxies!.postgres.setEnabled(false)
    try {
      await untilValue(up, 0)
      // for: 2m, so pending (not firing) within this test.
      await until('alert pending', async () => (await query('ALERTS{alertname="ServiceTemplatePodNotReady",alertstate="pending"}')).length === 1, {
        timeoutMs: 20_000,
        intervalMs: 500,
      })
      expect((await fetch(`${server.url}/ready`)).status).toBe(503)
      expect((await fetch(`${server.url}/health`)).status).toBe(200)
    } finally {
      await stack.proxies!.postgres.setEnabled(true)
    }
    await untilValue(up, 1)
    await until('alert cleared', async () => (await query('ALERTS{alertname="ServiceTemplatePodNotReady"}')).length === 0, { timeoutMs: 20_000, intervalMs: 500 })
    expectAlive(server)
  })

  it('Redis cut: the client leaves `ready` and its non-critical check goes down, the pod stays ready, no alert', async () => {
    await untilValue('redis_connection_state{state="ready"}', 1)
    await stack.proxies!.redis.setEnabled(false)
    try {
      await untilValue('redis_connection_state{state="ready"}', 0)
      await untilValue('readiness_check_up{check="redis",critical="false"}', 0)
      expect((await fetch(`${server.url}/ready`)).status).toBe(200)
      expect(await query('ALERTS{alertname="ServiceTemplatePodNotReady"}')).toEqual([])
    } finally {
      await stack.proxies!.redis.setEnabled(true)
    }
    await untilValue('redis_connection_state{state="ready"}', 1, 60_000)
    await untilValue('readiness_check_up{check="redis",critical="false"}', 1)
    expectAlive(server)
  })

  it("docs/metrics.md's alert rules pass promtool check rules, and Prometheus loaded them", async () => {
    const dir = await mkdtemp(join(tmpdir(), 'alerts-'))
    try {
      await writeFile(join(dir, 'alerts.yml'), alertRules)
      const { code, output } = await promtool(['check', 'rules', join(dir, 'alerts.yml')])
      expect(output).toContain('SUCCESS: 2 rules found')
      expect(code).toBe(0)
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
    const res = (await (await fetch(`${api}/rules`)).json()) as { data: { groups: Array<{ rules: Array<{ name: string; health: string }> }> } }
    const rules = res.data.groups.flatMap((g) => g.rules)
    expect(rules.map((r) => [r.name, r.health])).toEqual([
      ['ServiceTemplatePodNotReady', 'ok'],
      ['ServiceTemplateShutdownNearDeadline', 'ok'],
    ])
  })

  // Last: it ends the server.
  it('a shutdown held past 80% of its deadline by an in-flight request fires the deadline alert', async () => {
    const slow = fetch(`${server.url}/fixture/slow?ms=9000`).catch(() => undefined)
    // The request reaches the server before the signal does.
    await sleep(200)
    server.child.kill('SIGTERM')
    // The deadline (8 s) comes before the request's end (9 s): exit 1, the request cut.
    expect((await server.exited).code).toBe(1)
    await slow
    await until(
      'deadline alert fired while the shutdown ran',
      async () => ((await value('count_over_time(ALERTS{alertname="ServiceTemplateShutdownNearDeadline",alertstate="firing"}[2m])')) ?? 0) >= 1,
      { timeoutMs: 15_000, intervalMs: 1000 },
    )
    // Scraped through the drain and the close: the phases as Prometheus saw them.
    expect(await value('max_over_time(lifecycle_phase{phase="draining"}[2m])')).toBe(1)
    expect(await value('max_over_time(lifecycle_phase{phase="closing"}[2m])')).toBe(1)
    expect(await value('max_over_time(lifecycle_phase_seconds{phase="draining"}[2m])')).toBeGreaterThanOrEqual(0.9)
    expect(await value('max_over_time(lifecycle_phase_seconds{phase="closing"}[2m])')).toBeGreaterThanOrEqual(5.4)
  })
})

/** The YAML block that follows the alert-rules marker in docs/metrics.md. */
function docAlertRules(readme: string): string {
  const m = /<!-- alert rules: tested by test\/integration\/metrics\.test\.ts -->\n```yaml\n([\s\S]*?)\n```/.exec(readme)
  if (!m) throw new Error('docs/metrics.md: no alert rules block after its marker comment')
  return `${m[1]}\n`
}
