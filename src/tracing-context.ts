// The context each request runs in. The API's own context copies its parent's Map into a
// new one and makes three closures on every setValue: the request's context, the span set
// on it, every child span's. A context here holds its one value and asks its parent for the
// rest: a single small object. Contexts are immutable, so the chain never changes under a
// reader; it is as deep as the values set along one request (a few).
import { ROOT_CONTEXT, type Context } from '@opentelemetry/api'

export class LinkedContext implements Context {
  readonly #parent: Context
  readonly #key: symbol | undefined
  readonly #value: unknown

  /** `parent`'s values; with a key, that one value over them. */
  constructor(parent: Context, key?: symbol, value?: unknown) {
    this.#parent = parent
    this.#key = key
    this.#value = value
  }

  getValue(key: symbol): unknown {
    return key === this.#key ? this.#value : this.#parent.getValue(key)
  }

  setValue(key: symbol, value: unknown): Context {
    return new LinkedContext(this, key, value)
  }

  // A deleted key reads as undefined, which is all getValue can tell of a missing one.
  deleteValue(key: symbol): Context {
    return new LinkedContext(this, key, undefined)
  }
}

/** The root context, linked: a context made from it is a LinkedContext. */
export const LINKED_ROOT: Context = new LinkedContext(ROOT_CONTEXT)
