// The NetworkPolicy's edges: DNS only to the cluster DNS, the metrics port only to the
// scraper, and nothing open to every destination unless asked for.
import { describe, expect, it } from 'vitest'
import { getOne, render, type K8sObject } from './helm.js'

interface Peer {
  namespaceSelector?: { matchLabels: Record<string, string> }
  podSelector?: { matchLabels: Record<string, string> }
  ipBlock?: { cidr: string }
}
interface Rule {
  ports?: { port: number | string; protocol: string }[]
  to?: Peer[]
  from?: Peer[]
}
type NetworkPolicy = K8sObject & { spec: { ingress: Rule[]; egress: Rule[] } }

// Closed egress needs a route to the dependencies, or the render refuses.
const closedEgress = {
  'networkPolicy.enabled': true,
  'networkPolicy.allowExternalEgress': false,
  'networkPolicy.extraEgress': [{ to: [{ ipBlock: { cidr: '10.0.0.0/8' } }], ports: [{ port: 5432, protocol: 'TCP' }] }],
}
const policy = async (set: Record<string, unknown>) => getOne<NetworkPolicy>(await render({ set: { ...closedEgress, ...set } }), 'NetworkPolicy')
const dnsPorts = [
  { port: 53, protocol: 'UDP' },
  { port: 53, protocol: 'TCP' },
]
const dnsRules = (np: NetworkPolicy) => np.spec.egress.filter((r) => r.ports?.some((p) => p.port === 53))

describe.concurrent('NetworkPolicy egress to DNS', () => {
  it('goes only to the kube-dns pods in kube-system by default; no egress rule is open to every destination', async () => {
    const np = await policy({})
    expect(dnsRules(np)).toEqual([
      {
        to: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'kube-system' } }, podSelector: { matchLabels: { 'k8s-app': 'kube-dns' } } }],
        ports: dnsPorts,
      },
    ])
    // A rule without `to` (or with an empty peer) would admit any destination.
    for (const rule of np.spec.egress) {
      expect(rule.to?.length, JSON.stringify(rule)).toBeGreaterThan(0)
      for (const peer of rule.to ?? []) expect(Object.keys(peer).length, JSON.stringify(rule)).toBeGreaterThan(0)
    }
  })

  it('adds an ipBlock per NodeLocal DNSCache address, with the same ports', async () => {
    const np = await policy({ 'networkPolicy.dns.nodeLocalDNSCacheCIDRs': ['169.254.20.10/32', '10.96.0.10/32'] })
    const [rule] = dnsRules(np)
    expect(rule?.to?.slice(1)).toEqual([{ ipBlock: { cidr: '169.254.20.10/32' } }, { ipBlock: { cidr: '10.96.0.10/32' } }])
    expect(rule?.ports).toEqual(dnsPorts)
  })

  it('follows other DNS deployments (OpenShift) through its selectors', async () => {
    const np = await policy({
      'networkPolicy.dns.namespaceSelector': { 'kubernetes.io/metadata.name': 'openshift-dns' },
      'networkPolicy.dns.podSelector': { 'dns.operator.openshift.io/daemonset-dns': 'default', 'k8s-app': null },
    })
    expect(dnsRules(np)[0]?.to).toEqual([
      {
        namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'openshift-dns' } },
        podSelector: { matchLabels: { 'dns.operator.openshift.io/daemonset-dns': 'default' } },
      },
    ])
  })

  it('is covered by the allow-all egress rule when allowExternalEgress is true', async () => {
    const np = await policy({ 'networkPolicy.allowExternalEgress': true })
    expect(np.spec.egress).toEqual([{}])
  })
})

describe.concurrent('NetworkPolicy ingress to the metrics port', () => {
  const metricsRules = (np: NetworkPolicy) => np.spec.ingress.filter((r) => r.ports?.some((p) => p.port === 'metrics'))

  it('admits only the monitoring namespace, even when allowExternal opens the http port to everyone', async () => {
    const np = await policy({ 'networkPolicy.allowExternal': true })
    expect(metricsRules(np)).toEqual([
      { ports: [{ port: 'metrics', protocol: 'TCP' }], from: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'monitoring' } } }] },
    ])
    // The open rule is for http alone.
    expect(np.spec.ingress[0]).toEqual({ ports: [{ port: 'http', protocol: 'TCP' }] })
  })

  it('narrows to the scraper pods with metrics.networkPolicy.podSelector (one peer: namespace AND pods)', async () => {
    const np = await policy({
      'metrics.networkPolicy.namespaceSelector': { 'kubernetes.io/metadata.name': 'observability' },
      'metrics.networkPolicy.podSelector': { 'app.kubernetes.io/name': 'prometheus' },
    })
    expect(metricsRules(np)[0]?.from).toEqual([
      {
        namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'observability' } },
        podSelector: { matchLabels: { 'app.kubernetes.io/name': 'prometheus' } },
      },
    ])
  })

  it('has no metrics rule when metrics are disabled', async () => {
    const np = await policy({ 'metrics.enabled': false })
    expect(metricsRules(np)).toEqual([])
    expect(np.spec.ingress).toHaveLength(1)
  })
})
