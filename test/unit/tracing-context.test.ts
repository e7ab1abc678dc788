// The linked request context against the API's own context: whatever the API, the
// propagators and the context manager do with a context must read the same from either.
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks'
import { createContextKey, defaultTextMapGetter, defaultTextMapSetter, propagation, ROOT_CONTEXT, trace, type Context } from '@opentelemetry/api'
import { CompositePropagator, W3CBaggagePropagator, W3CTraceContextPropagator } from '@opentelemetry/core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { LINKED_ROOT, LinkedContext } from '../../src/tracing-context.js'

const A = createContextKey('a')
const B = createContextKey('b')

// The same operations on both roots, read back through getValue.
function both(ops: (root: Context) => Context, keys: symbol[]): [unknown[], unknown[]] {
  const read = (ctx: Context) => keys.map((key) => ctx.getValue(key))
  return [read(ops(ROOT_CONTEXT)), read(ops(LINKED_ROOT))]
}

describe('LinkedContext', () => {
  it('reads what the API context reads after any sequence of set and delete', () => {
    const sequences: Array<(root: Context) => Context> = [
      (root) => root,
      (root) => root.setValue(A, 1),
      (root) => root.setValue(A, 1).setValue(B, 2),
      (root) => root.setValue(A, 1).setValue(A, 3),
      (root) => root.setValue(A, 1).setValue(B, 2).deleteValue(A),
      (root) => root.setValue(A, 1).deleteValue(A).setValue(A, 4),
      (root) => root.deleteValue(B),
    ]
    for (const ops of sequences) {
      const [api, linked] = both(ops, [A, B])
      expect(linked).toEqual(api)
    }
  })

  it('leaves its parent unchanged: contexts are immutable', () => {
    const parent = LINKED_ROOT.setValue(A, 1)
    const child = parent.setValue(A, 2).deleteValue(A)
    expect(parent.getValue(A)).toBe(1)
    expect(child.getValue(A)).toBeUndefined()
    expect(LINKED_ROOT.getValue(A)).toBeUndefined()
  })

  it('reads through to a parent of another kind (an extracted context)', () => {
    const linked = new LinkedContext(ROOT_CONTEXT.setValue(A, 1), B, 2)
    expect([linked.getValue(A), linked.getValue(B)]).toEqual([1, 2])
  })

  it('carries spans and W3C trace context as the API context does', () => {
    const propagator = new CompositePropagator({ propagators: [new W3CTraceContextPropagator(), new W3CBaggagePropagator()] })
    const headers = { traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01', tracestate: 'vendor=1', baggage: 'tenant=a' }
    const [fromApi, fromLinked] = [ROOT_CONTEXT, LINKED_ROOT].map((root) => propagator.extract(root, headers, defaultTextMapGetter))
    expect(fromLinked).toBeInstanceOf(LinkedContext)
    expect(trace.getSpanContext(fromLinked!)).toEqual(trace.getSpanContext(fromApi!))
    expect(propagation.getBaggage(fromLinked!)?.getAllEntries()).toEqual(propagation.getBaggage(fromApi!)?.getAllEntries())

    const span = trace.wrapSpanContext({ traceId: 'a'.repeat(32), spanId: 'b'.repeat(16), traceFlags: 1 })
    const withSpan = trace.setSpan(fromLinked!, span)
    const outgoing: Record<string, string> = {}
    propagator.inject(withSpan, outgoing, defaultTextMapSetter)
    expect(outgoing.traceparent).toBe(`00-${'a'.repeat(32)}-${'b'.repeat(16)}-01`)
    expect(outgoing.baggage).toBe('tenant=a')
    expect(trace.getSpan(trace.deleteSpan(withSpan))).toBeUndefined()
    expect(trace.getSpan(withSpan)).toBe(span)
  })

  describe('as the active context', () => {
    const manager = new AsyncLocalStorageContextManager()
    beforeAll(() => void manager.enable())
    afterAll(() => void manager.disable())

    it('is the active context across awaits, and the root again after', async () => {
      const ctx = LINKED_ROOT.setValue(A, 'request')
      const seen = await manager.with(ctx, async () => {
        await new Promise((resolve) => setImmediate(resolve))
        return manager.active().getValue(A)
      })
      expect(seen).toBe('request')
      expect(manager.active().getValue(A)).toBeUndefined()
    })
  })
})
