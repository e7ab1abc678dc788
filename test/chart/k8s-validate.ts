// Validation of rendered objects against the Kubernetes API, from the npm package
// kubernetes-models (v5, generated from the Kubernetes 1.33 OpenAPI spec):
//
// 1. validateSchema: the package's ajv validators (types, required fields, enums, formats).
//    The upstream OpenAPI spec has no `additionalProperties: false`, so like the API
//    server's non-strict mode they ignore unknown fields.
// 2. validateFields: the package's generated TypeScript interfaces, type-checked with
//    the TypeScript compiler. Object literals get excess-property checks, so a typo
//    such as `readinesProbe` is reported, as `kubectl apply` (field validation Strict)
//    would reject it.
import ts from 'typescript'
import { join } from 'node:path'
import type { Model } from '@kubernetes-models/base'
import { ConfigMap, Pod, Secret, Service, ServiceAccount } from 'kubernetes-models/v1'
import { Deployment } from 'kubernetes-models/apps/v1'
import { Job } from 'kubernetes-models/batch/v1'
import { HorizontalPodAutoscaler } from 'kubernetes-models/autoscaling/v2'
import { Ingress, NetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1'
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1'
import { repoRoot, type K8sObject } from './helm.js'

type ModelClass = new (data: never) => Model<unknown>

interface Kind {
  model: ModelClass
  /** Module and interface name of the generated TypeScript type. */
  typeModule: string
  typeName: string
}

// apiVersion/kind -> model. A kind the chart starts rendering must be added here,
// otherwise validation reports it rather than silently skipping the object.
const registry: Record<string, Kind> = {
  'v1/ConfigMap': { model: ConfigMap, typeModule: 'kubernetes-models/v1', typeName: 'IConfigMap' },
  'v1/Pod': { model: Pod, typeModule: 'kubernetes-models/v1', typeName: 'IPod' },
  'v1/Secret': { model: Secret, typeModule: 'kubernetes-models/v1', typeName: 'ISecret' },
  'v1/Service': { model: Service, typeModule: 'kubernetes-models/v1', typeName: 'IService' },
  'v1/ServiceAccount': { model: ServiceAccount, typeModule: 'kubernetes-models/v1', typeName: 'IServiceAccount' },
  'apps/v1/Deployment': { model: Deployment, typeModule: 'kubernetes-models/apps/v1', typeName: 'IDeployment' },
  'batch/v1/Job': { model: Job, typeModule: 'kubernetes-models/batch/v1', typeName: 'IJob' },
  'autoscaling/v2/HorizontalPodAutoscaler': {
    model: HorizontalPodAutoscaler,
    typeModule: 'kubernetes-models/autoscaling/v2',
    typeName: 'IHorizontalPodAutoscaler',
  },
  'networking.k8s.io/v1/Ingress': { model: Ingress, typeModule: 'kubernetes-models/networking.k8s.io/v1', typeName: 'IIngress' },
  'networking.k8s.io/v1/NetworkPolicy': {
    model: NetworkPolicy,
    typeModule: 'kubernetes-models/networking.k8s.io/v1',
    typeName: 'INetworkPolicy',
  },
  'policy/v1/PodDisruptionBudget': { model: PodDisruptionBudget, typeModule: 'kubernetes-models/policy/v1', typeName: 'IPodDisruptionBudget' },
}

const keyOf = (o: K8sObject) => `${o.apiVersion}/${o.kind}`
const label = (o: K8sObject) => `${keyOf(o)} ${o.metadata?.name ?? '(no name)'}`

/** Schema errors of one object; empty when the API schema accepts it. */
export function validateSchema(object: K8sObject): string[] {
  const kind = registry[keyOf(object)]
  if (!kind) return [`${keyOf(object)}: no Kubernetes schema registered for this kind`]
  // The models set apiVersion/kind themselves; the rendered ones were checked by the lookup.
  const { apiVersion: _apiVersion, kind: _kind, ...data } = object
  try {
    new kind.model(data as never).validate()
    return []
  } catch (error) {
    return [`${label(object)}: ${error instanceof Error ? error.message : String(error)}`]
  }
}

const compilerOptions: ts.CompilerOptions = {
  target: ts.ScriptTarget.ES2022,
  module: ts.ModuleKind.NodeNext,
  moduleResolution: ts.ModuleResolutionKind.NodeNext,
  strict: true,
  noEmit: true,
  skipLibCheck: true,
  types: [],
  lib: ['lib.es2022.d.ts'],
}

/**
 * Unknown-field and type errors of the objects, from the TypeScript compiler. One
 * program for all objects (a compile costs about a second, each extra object little).
 */
export function validateFields(objects: K8sObject[]): string[] {
  // A virtual ESM module inside the repository, so `kubernetes-models` resolves from node_modules.
  const fileName = join(repoRoot, 'test', 'chart', '__rendered_objects__.mts')
  const errors: string[] = []
  const imports = new Map<string, Set<string>>()
  const lines: string[] = []
  const lineOwner: (K8sObject | undefined)[] = []
  objects.forEach((object, i) => {
    const kind = registry[keyOf(object)]
    if (!kind) {
      errors.push(`${keyOf(object)}: no Kubernetes type registered for this kind`)
      return
    }
    const names = imports.get(kind.typeModule) ?? new Set<string>()
    names.add(kind.typeName)
    imports.set(kind.typeModule, names)
    // One property per line, so a diagnostic's line number leads back to its object.
    for (const line of `export const o${i}: ${kind.typeName} = ${JSON.stringify(object, null, 1)};`.split('\n')) {
      lines.push(line)
      lineOwner.push(object)
    }
  })
  const header = [...imports].map(([module, names]) => `import type { ${[...names].join(', ')} } from '${module}';`)
  const source = [...header, ...lines].join('\n')
  const owners = [...header.map(() => undefined), ...lineOwner]

  const host = ts.createCompilerHost(compilerOptions)
  const getSourceFile = host.getSourceFile.bind(host)
  const fileExists = host.fileExists.bind(host)
  const readFile = host.readFile.bind(host)
  host.getSourceFile = (name, languageVersion, ...rest) =>
    name === fileName ? ts.createSourceFile(name, source, languageVersion, true) : getSourceFile(name, languageVersion, ...rest)
  host.fileExists = (name) => name === fileName || fileExists(name)
  host.readFile = (name) => (name === fileName ? source : readFile(name))

  const program = ts.createProgram([fileName], compilerOptions, host)
  const sourceFile = program.getSourceFile(fileName)
  for (const diagnostic of ts.getPreEmitDiagnostics(program, sourceFile)) {
    const message = ts.flattenDiagnosticMessageText(diagnostic.messageText, '\n')
    if (diagnostic.file && diagnostic.start !== undefined) {
      const { line } = diagnostic.file.getLineAndCharacterOfPosition(diagnostic.start)
      const owner = owners[line]
      const text = diagnostic.file.text.split('\n')[line]?.trim() ?? ''
      errors.push(`${owner ? label(owner) : 'imports'}: ${message} (at ${text})`)
    } else {
      errors.push(message)
    }
  }
  return errors
}

/** Both validations; empty when every object is a valid Kubernetes 1.33 object. */
export function validateAll(objects: K8sObject[]): string[] {
  return [...objects.flatMap(validateSchema), ...validateFields(objects)]
}
