// Names and labels that stay valid for the longest names a release can have: a 60-character
// fullname (fullnameOverride) and Helm's longest release name (53 characters, fullname cut
// to 63). The API server rejects an invalid label key or value, and the whole install with it.
import { describe, expect, it } from 'vitest'
import { everythingEnabled, getOne, render, type K8sObject } from './helm.js'
import { validateAll } from './k8s-validate.js'

// k8s.io/apimachinery/pkg/util/validation: IsQualifiedName (label keys), IsValidLabelValue,
// IsDNS1123Subdomain (a key's prefix) and IsDNS1123Label (most object names).
const dnsLabel = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/
const dnsSubdomain = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/
const qualifiedNamePart = /^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/
const labelValuePattern = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/

function labelKeyErrors(key: string): string[] {
  const parts = key.split('/')
  if (parts.length > 2) return [`${key}: more than one "/"`]
  const [name, prefix] = parts.length === 2 ? [parts[1]!, parts[0]!] : [parts[0]!, undefined]
  const errors: string[] = []
  if (prefix !== undefined && (prefix.length > 253 || !dnsSubdomain.test(prefix))) errors.push(`${key}: prefix is not a DNS subdomain`)
  if (name.length > 63) errors.push(`${key}: name part is ${name.length} > 63 characters`)
  if (!qualifiedNamePart.test(name)) errors.push(`${key}: name part has invalid characters`)
  return errors
}

function labelValueErrors(key: string, value: unknown): string[] {
  if (typeof value !== 'string') return [`${key}: value is not a string`]
  if (value.length > 63) return [`${key}=${value}: value is ${value.length} > 63 characters`]
  return labelValuePattern.test(value) ? [] : [`${key}=${value}: invalid value`]
}

/** Every label map of an object: metadata and template labels, matchLabels, Service selectors. */
function labelMaps(node: unknown, path: string, out: [string, Record<string, unknown>][] = []): [string, Record<string, unknown>][] {
  if (Array.isArray(node)) node.forEach((child, i) => labelMaps(child, `${path}[${i}]`, out))
  else if (node !== null && typeof node === 'object') {
    for (const [key, child] of Object.entries(node as Record<string, unknown>)) {
      const isStringMap =
        child !== null && typeof child === 'object' && !Array.isArray(child) && Object.values(child as Record<string, unknown>).every((v) => typeof v === 'string')
      if (['labels', 'matchLabels', 'selector'].includes(key) && isStringMap) out.push([`${path}.${key}`, child as Record<string, unknown>])
      else labelMaps(child, `${path}.${key}`, out)
    }
  }
  return out
}

function nameAndLabelErrors(objects: K8sObject[]): string[] {
  const errors: string[] = []
  const seen = new Set<string>()
  for (const o of objects) {
    const where = `${o.kind}/${o.metadata.name}`
    if (o.metadata.name.length > 63 || !dnsLabel.test(o.metadata.name)) errors.push(`${where}: name is not a DNS label of at most 63 characters`)
    if (seen.has(`${o.kind}/${o.metadata.name}`)) errors.push(`${where}: two objects of this kind have this name`)
    seen.add(`${o.kind}/${o.metadata.name}`)
    for (const [path, labels] of labelMaps(o, where)) {
      for (const [key, value] of Object.entries(labels)) {
        errors.push(...[...labelKeyErrors(key), ...labelValueErrors(key, value)].map((e) => `${path}: ${e}`))
      }
    }
  }
  return errors
}

describe('the label checks of this file', () => {
  it('reject the `<fullname>-client` key a 60-character fullname used to produce', () => {
    expect(labelKeyErrors(`${'f'.repeat(60)}-client`)).toEqual([`${'f'.repeat(60)}-client: name part is 67 > 63 characters`])
    expect(labelKeyErrors(`${'f'.repeat(60)}/client`)).toEqual([])
    expect(labelValueErrors('k', 'x'.repeat(64))).toHaveLength(1)
    expect(labelValueErrors('k', 'ends-with-dash-')).toHaveLength(1)
  })

  it('find label maps at every depth, and nothing else', () => {
    const object = {
      metadata: { labels: { a: '1' } },
      spec: { selector: { matchLabels: { b: '2' } }, template: { metadata: { labels: { c: '3' } } }, ports: [{ name: 'x' }] },
    }
    expect(labelMaps(object, 'o').map(([path]) => path)).toEqual(['o.metadata.labels', 'o.spec.selector.matchLabels', 'o.spec.template.metadata.labels'])
  })
})

describe.concurrent('long release names', () => {
  const fullname60 = 'f'.repeat(60)
  const release53 = 'r'.repeat(53)

  it.each([
    ['a 60-character fullnameOverride', { set: { ...everythingEnabled, fullnameOverride: fullname60 } }, fullname60],
    ["Helm's longest release name (53 characters)", { releaseName: release53, set: everythingEnabled }, `${release53}-service-template`.slice(0, 63)],
  ])('%s: every name, label key and label value is valid, every object a valid 1.33 object', async (_name, opts, fullname) => {
    const objects = await render(opts)
    expect(nameAndLabelErrors(objects)).toEqual([])
    expect(validateAll(objects.filter((o) => o.apiVersion !== 'monitoring.coreos.com/v1'))).toEqual([])
    // The NetworkPolicy's client label is what the helm test pod carries, under a valid key.
    const clientKey = `${fullname}/client`
    expect(getOne(objects, 'Pod').metadata.labels?.[clientKey]).toBe('true')
    const np = getOne<K8sObject & { spec: { ingress: { from?: unknown[] }[] } }>(objects, 'NetworkPolicy')
    expect(np.spec.ingress[0]?.from).toContainEqual({ podSelector: { matchLabels: { [clientKey]: 'true' } } })
    // Companion objects keep their suffix instead of colliding with the app's own name.
    const services = objects.filter((o) => o.kind === 'Service').map((o) => o.metadata.name)
    expect(services).toContain(fullname)
    expect(services.filter((n) => n.endsWith('-metrics'))).toHaveLength(1)
    expect(services.filter((n) => n.endsWith('-postgres'))).toHaveLength(1)
    expect(services.filter((n) => n.endsWith('-redis'))).toHaveLength(1)
  })
})
