// Helpers for the Helm chart tests: run the helm binary and parse what it renders.
import { execFile } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parse, parseAllDocuments } from 'yaml'
import { expect } from 'vitest'
import { findTool, helmTool } from '../helpers/tools.js'

export const repoRoot = resolve(fileURLToPath(new URL('.', import.meta.url)), '..', '..')
export const chartDir = join(repoRoot, 'helm', 'service-template')
export const defaultValues = join(chartDir, 'values.yaml')
export const minikubeValues = join(chartDir, 'values-minikube.yaml')
/** Chart version, as the helm.sh/chart label carries it. */
export const chartVersion = (parse(readFileSync(join(chartDir, 'Chart.yaml'), 'utf8')) as { version: string }).version

// Kubernetes version the chart is rendered for (and validated against: kubernetes-models
// ships the 1.33 OpenAPI schemas). Pinned so that .Capabilities-dependent output (the
// native preStop sleep) does not change with the helm binary's built-in default.
export const kubeVersion = '1.33.0'
export const release = 'rel'
export const namespace = 'apps'

/** Absolute path of the helm binary (HELM_BIN, else PATH); throws (never skips) when there is none. */
export function findHelm(): string {
  return findTool(helmTool)
}

export interface HelmResult {
  code: number
  stdout: string
  stderr: string
}

/** Runs helm with the given arguments; resolves with the exit code instead of throwing. */
export function helm(args: string[]): Promise<HelmResult> {
  const bin = findHelm()
  return new Promise((resolvePromise, reject) => {
    execFile(bin, args, { cwd: repoRoot, maxBuffer: 32 * 1024 * 1024, env: { ...process.env, HELM_DEBUG: '' } }, (error, stdout, stderr) => {
      if (error && typeof error.code !== 'number') {
        reject(new Error(`could not run ${bin}: ${error.message}`, { cause: error }))
        return
      }
      resolvePromise({ code: typeof error?.code === 'number' ? error.code : 0, stdout, stderr })
    })
  })
}

export interface RenderOptions {
  valuesFiles?: string[]
  /** --set-json pairs: key -> any JSON value (keeps types exact, unlike --set). */
  set?: Record<string, unknown>
  kubeVersion?: string
  releaseName?: string
  /**
   * Render against the API server of this kubeconfig (`--dry-run=server`), so the
   * templates' `lookup` sees its objects. Without it `lookup` returns nothing.
   */
  kubeconfig?: string
}

function templateArgs(opts: RenderOptions): string[] {
  const args = [
    'template',
    opts.releaseName ?? release,
    chartDir,
    '--namespace',
    namespace,
    '--kube-version',
    opts.kubeVersion ?? kubeVersion,
  ]
  // Server-side OpenAPI validation is the kubernetes-models tests' job, not the API server's here.
  if (opts.kubeconfig) args.push('--kubeconfig', opts.kubeconfig, '--dry-run=server', '--disable-openapi-validation')
  for (const file of opts.valuesFiles ?? []) args.push('--values', file)
  for (const [key, value] of Object.entries(opts.set ?? {})) args.push('--set-json', `${key}=${JSON.stringify(value)}`)
  return args
}

/** A rendered Kubernetes object, loosely typed: tests narrow what they read. */
export interface K8sObject {
  apiVersion: string
  kind: string
  metadata: { name: string; labels?: Record<string, string>; annotations?: Record<string, string> }
  [key: string]: unknown
}

/** `helm template` that is expected to fail; resolves with its result. */
export function renderRaw(opts: RenderOptions = {}): Promise<HelmResult> {
  return helm(templateArgs(opts))
}

/** Asserts that the render fails and that its error contains every given message. */
export async function expectRenderFails(set: Record<string, unknown>, ...messages: (string | RegExp)[]): Promise<void> {
  const result = await renderRaw({ set })
  expect(result.code, 'helm template should have failed').not.toBe(0)
  for (const message of messages) {
    if (typeof message === 'string') expect(result.stderr).toContain(message)
    else expect(result.stderr).toMatch(message)
  }
}

/** Asserts that the render succeeds without any message. */
export async function expectRenders(set: Record<string, unknown>): Promise<void> {
  const result = await renderRaw({ set })
  expect(result.stderr).toBe('')
  expect(result.code).toBe(0)
}

/** `helm template` that must succeed; returns every rendered object. */
export async function render(opts: RenderOptions = {}): Promise<K8sObject[]> {
  const result = await renderRaw(opts)
  if (result.code !== 0) throw new Error(`helm template failed (exit ${result.code}):\n${result.stderr}`)
  const objects: K8sObject[] = []
  for (const doc of parseAllDocuments(result.stdout, { uniqueKeys: true })) {
    if (doc.errors.length > 0) throw new Error(`helm rendered invalid YAML: ${doc.errors.map((e) => e.message).join('; ')}`)
    const value: unknown = doc.toJS()
    if (value === null || value === undefined) continue
    objects.push(value as K8sObject)
  }
  return objects
}

/** The one object of the given kind (and name suffix); throws if absent or ambiguous. */
export function getOne<T = K8sObject>(objects: K8sObject[], kind: string, nameSuffix = ''): T {
  const found = objects.filter((o) => o.kind === kind && o.metadata.name.endsWith(nameSuffix))
  if (found.length !== 1) {
    throw new Error(`expected exactly one ${kind}${nameSuffix ? ` named *${nameSuffix}` : ''}, got ${found.length}: ${found.map((o) => o.metadata.name).join(', ')}`)
  }
  return found[0] as T
}

export function kinds(objects: K8sObject[]): string[] {
  return objects.map((o) => o.kind).sort()
}

/** Values that switch on every optional template, for "render everything" checks. */
export const everythingEnabled: Record<string, unknown> = {
  'autoscaling.enabled': true,
  'autoscaling.targetMemoryUtilizationPercentage': 80,
  'ingress.enabled': true,
  'ingress.className': 'nginx',
  'ingress.tls': [{ secretName: 'service-template-tls', hosts: ['service-template.local'] }],
  'networkPolicy.enabled': true,
  'networkPolicy.allowExternal': false,
  'networkPolicy.allowExternalEgress': false,
  'networkPolicy.ingressNSMatchLabels': { 'kubernetes.io/metadata.name': 'ingress-nginx' },
  'networkPolicy.extraEgress': [{ to: [{ ipBlock: { cidr: '10.0.0.0/8' } }], ports: [{ port: 5432, protocol: 'TCP' }] }],
  'networkPolicy.dns.nodeLocalDNSCacheCIDRs': ['169.254.20.10/32'],
  'metrics.serviceMonitor.enabled': true,
  'metrics.serviceMonitor.labels': { release: 'kube-prometheus-stack' },
  'devDependencies.enabled': true,
  'podDisruptionBudget.minAvailable': 1,
  'serviceAccount.annotations': { 'example.com/role': 'service-template' },
  'extraEnv': { FEATURE_FLAG: 'on' },
  'image.digest': 'sha256:' + 'a'.repeat(64),
  'migrations.job.enabled': true,
  'tracing.endpoint': 'http://otel-collector.observability:4318',
  'tracing.resourceAttributes': { 'deployment.environment.name': 'test' },
}
