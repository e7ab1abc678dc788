import type { IncomingMessage } from 'node:http'
import { describe, expect, it } from 'vitest'
import { redactUrl, requestId } from '../../src/logger.js'

describe('redactUrl', () => {
  it.each([
    ['/api/items?token=abc&page=2', '/api/items?token=[REDACTED]&page=2'],
    ['/cb?code=xyz&state=1&api_key=k', '/cb?code=[REDACTED]&state=1&api_key=[REDACTED]'],
    ['/x?Password=p%20w', '/x?Password=[REDACTED]'],
    ['/x?a=1', '/x?a=1'],
    ['/plain', '/plain'],
    ['/proxy?to=postgres://app:hunter2@db:5432/app', '/proxy?to=postgres://app:[REDACTED]@db:5432/app'],
    ['redis://:hunter2@cache:6379', 'redis://:[REDACTED]@cache:6379'],
  ])('%s', (input, expected) => {
    expect(redactUrl(input)).toBe(expected)
  })
})

describe('requestId', () => {
  const req = (id?: string) => ({ headers: id === undefined ? {} : { 'x-request-id': id } }) as unknown as IncomingMessage
  it('keeps a well-formed incoming id', () => {
    expect(requestId(req('0af7651916cd43dd8448eb211c80319c'))).toBe('0af7651916cd43dd8448eb211c80319c')
  })
  it.each([undefined, '', 'has space', 'x'.repeat(129), 'line\nbreak', '{"json":1}'])('generates one for %j', (id) => {
    expect(requestId(req(id))).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/)
  })
})
