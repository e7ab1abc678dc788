// Typed views of the rendered objects the chart tests read, and small shared helpers.
import type { K8sObject } from './helm.js'

export interface Probe {
  httpGet: { path: string; port: string | number }
  initialDelaySeconds: number
  periodSeconds: number
  timeoutSeconds: number
  failureThreshold: number
  successThreshold: number
}
export interface EnvVar {
  name: string
  value?: string
  valueFrom?: { secretKeyRef?: { name: string; key: string }; fieldRef?: { fieldPath: string } }
}
export interface Container {
  name: string
  image: string
  imagePullPolicy: string
  command?: string[]
  ports: { name: string; containerPort: number }[]
  env?: EnvVar[]
  envFrom?: { configMapRef?: { name: string }; secretRef?: { name: string } }[]
  lifecycle?: { preStop?: { sleep?: { seconds: number }; exec?: { command: string[] } } }
  startupProbe?: Probe
  readinessProbe?: Probe
  livenessProbe?: Probe
  securityContext: Record<string, unknown>
  volumeMounts?: { name: string; mountPath: string }[]
  resources?: { requests?: Record<string, string>; limits?: Record<string, string> }
}
export interface PodSpec {
  containers: Container[]
  securityContext: Record<string, unknown>
  terminationGracePeriodSeconds: number
  serviceAccountName?: string
  automountServiceAccountToken?: boolean
  volumes?: { name: string; emptyDir?: Record<string, unknown> }[]
}
export interface Deployment extends K8sObject {
  spec: {
    replicas?: number
    selector: { matchLabels: Record<string, string> }
    strategy: { type: string; rollingUpdate: { maxUnavailable: number | string; maxSurge: number | string } }
    template: { metadata: { labels: Record<string, string>; annotations: Record<string, string> }; spec: PodSpec }
  }
}
export interface ConfigMap extends K8sObject {
  data: Record<string, string>
}
export interface Secret extends K8sObject {
  data?: Record<string, string>
}

export const app = (d: Deployment): Container => {
  const c = d.spec.template.spec.containers.find((x) => x.name === 'app')
  if (!c) throw new Error('no app container')
  return c
}
/** The app's Deployment (component "server"), whatever the release's names. */
export const appDeployment = (objects: K8sObject[]): Deployment => {
  const found = objects.filter((o) => o.kind === 'Deployment' && o.metadata.labels?.['app.kubernetes.io/component'] === 'server')
  if (found.length !== 1) throw new Error(`expected one app Deployment, got ${found.length}`)
  return found[0] as Deployment
}

/** Runs fn once, on first use: renders shared by a describe block, done inside the tests. */
export const lazy = <T>(fn: () => Promise<T>): (() => Promise<T>) => {
  let promise: Promise<T> | undefined
  return () => (promise ??= fn())
}
