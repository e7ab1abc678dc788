import type { IncomingMessage } from 'node:http'
import { Writable } from 'node:stream'
import Fastify from 'fastify'
import pino from 'pino'
import { describe, expect, it } from 'vitest'
import { loggerOptions, redactUrl, requestId, requestLogger } from '../../src/logger.js'

describe('redactUrl', () => {
  it.each([
    ['/orders?token=abc&page=2', '/orders?token=[REDACTED]&page=2'],
    ['/cb?code=xyz&state=1&api_key=k', '/cb?code=[REDACTED]&state=1&api_key=[REDACTED]'],
    ['/x?Password=p%20w', '/x?Password=[REDACTED]'],
    ['/x?a=1', '/x?a=1'],
    ['/plain', '/plain'],
    ['/proxy?to=postgres://app:hunter2@db:5432/app', '/proxy?to=postgres://app:[REDACTED]@db:5432/app'],
    ['redis://:hunter2@cache:6379', 'redis://:[REDACTED]@cache:6379'],
    ['postgres://app:p@ss@db:5432/app', 'postgres://app:[REDACTED]@db:5432/app'],
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
    expect(requestId(req(id))).toMatch(/^[0-9a-f]{16}-[0-9a-z]+$/)
  })
  it('generates ids unique within the process, with one prefix per process', () => {
    const ids = Array.from({ length: 1000 }, () => requestId(req()))
    expect(new Set(ids).size).toBe(1000)
    expect(new Set(ids.map((id) => id.split('-')[0])).size).toBe(1)
  })
})

describe('loggerOptions', () => {
  it('redacts credentials that code logs itself, and serialises requests without headers', () => {
    let out = ''
    const sink = new Writable({ write: (chunk: Buffer, _enc, done) => ((out += chunk.toString()), done()) })
    const log = pino(loggerOptions('info'), sink)
    log.info({ headers: { authorization: 'Bearer tok-1', cookie: 'sid=c-2', accept: '*/*' } }, 'own headers')
    log.info({ upstream: { headers: { authorization: 'Basic b-3' } }, db: { password: 'pw-4', connectionString: 'postgres://u:pw-5@h/d' } }, 'nested')
    log.info({ req: { method: 'GET', url: '/x?token=t-6', headers: { authorization: 'Bearer t-7' }, ip: '10.0.0.1' } }, 'request')
    for (const secret of ['tok-1', 'c-2', 'b-3', 'pw-4', 'pw-5', 't-6', 't-7']) expect(out).not.toContain(secret)
    const lines = out.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>)
    expect(lines[0]).toMatchObject({ headers: { authorization: '[REDACTED]', cookie: '[REDACTED]', accept: '*/*' } })
    expect(lines[2]).toMatchObject({ req: { method: 'GET', url: '/x?token=[REDACTED]', remoteAddress: '10.0.0.1' } })
  })
})

describe('log format', () => {
  const capture = () => {
    let out = ''
    const sink = new Writable({ write: (chunk: Buffer, _enc, done) => ((out += chunk.toString()), done()) })
    return { log: pino(loggerOptions('info'), sink), lines: () => out.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>) }
  }

  it('carries the level as a label, which cloud log agents map to a severity', () => {
    const { log, lines } = capture()
    log.info('i')
    log.error('e')
    log.fatal('f')
    expect(lines().map((l) => l.level)).toEqual(['info', 'error', 'fatal'])
  })

  it('errors keep type, message, code and stack, and drop what carries data', () => {
    const { log, lines } = capture()
    // What pg's DatabaseError and ioredis' ReplyError carry besides their message.
    class DatabaseError extends Error {}
    const pgErr = Object.assign(new DatabaseError('duplicate key value violates unique constraint "users_email_key"'), {
      code: '23505',
      detail: 'Key (email)=(someone@example.com) already exists.',
      where: 'SQL statement "INSERT INTO users VALUES (\'someone@example.com\', \'hunter2\')"',
      hint: 'h',
      query: 'INSERT ... hunter2',
    })
    class ReplyError extends Error {}
    const redisErr = Object.assign(new ReplyError('WRONGTYPE Operation against a key holding the wrong kind of value'), {
      command: { name: 'set', args: ['session:alice', 'token-abc-123'] },
    })
    const wrapped = new Error('cannot reach postgres://app:pw-9@db:5432/app', { cause: redisErr })
    log.error({ err: pgErr }, 'pg')
    log.error({ err: redisErr }, 'redis')
    log.error({ error: wrapped }, 'wrapped')
    const [pgLine, redisLine, wrappedLine] = lines()
    expect(pgLine?.err).toEqual({ type: 'DatabaseError', message: pgErr.message, code: '23505', stack: expect.stringContaining('users_email_key') as string })
    expect(redisLine?.err).toEqual({ type: 'ReplyError', message: redisErr.message, stack: expect.any(String) as string })
    expect(wrappedLine?.error).toMatchObject({ type: 'Error', message: 'cannot reach postgres://app:[REDACTED]@db:5432/app', cause: { type: 'ReplyError' } })
    const all = JSON.stringify(lines())
    for (const leaked of ['someone@example.com', 'hunter2', 'session:alice', 'token-abc-123', 'pw-9']) expect(all).not.toContain(leaked)
  })
})

describe('requestLogger (the request loggers Fastify makes)', () => {
  async function serve() {
    const lines: Array<Record<string, unknown>> = []
    const stream = new Writable({ write: (chunk: Buffer, _enc, done) => (lines.push(JSON.parse(chunk.toString()) as Record<string, unknown>), done()) })
    const app = Fastify({ logger: { ...loggerOptions('info'), stream }, childLoggerFactory: requestLogger, genReqId: requestId })
    app.get('/info', (req) => (req.log.info('at info'), 'ok'))
    app.get('/warn', { logLevel: 'warn' }, (req) => (req.log.info('hidden'), req.log.warn('at warn'), 'ok'))
    app.get('/child', { logLevel: 'warn' }, (req) => (req.log.child({ part: 'db' }).warn('from a child'), 'ok'))
    app.get('/debug', (req) => ((req.log.level = 'debug'), req.log.debug('this request at debug'), 'ok'))
    app.get('/serializers', { logSerializers: { thing: (v: string) => v.toUpperCase() } }, (req) => (req.log.info({ thing: 'x' }, 'serialised'), 'ok'))
    await app.ready()
    const get = async (url: string, id: string) => {
      lines.length = 0
      await app.inject({ url, headers: { 'x-request-id': id } })
      return lines.map(({ reqId, msg, level, part, thing }) => ({ reqId, msg, level, ...(part ? { part } : {}), ...(thing ? { thing } : {}) }))
    }
    return { app, get }
  }

  it("puts the request's id on each line of its logger, at its route's level", async () => {
    const { app, get } = await serve()
    expect(await get('/info', 'a-1')).toEqual([
      { reqId: 'a-1', msg: 'incoming request', level: 'info' },
      { reqId: 'a-1', msg: 'at info', level: 'info' },
      { reqId: 'a-1', msg: 'request completed', level: 'info' },
    ])
    expect(await get('/warn', 'a-2')).toEqual([{ reqId: 'a-2', msg: 'at warn', level: 'warn' }])
    // Two requests of one route share a level logger, never an id.
    expect(await get('/warn', 'a-3')).toEqual([{ reqId: 'a-3', msg: 'at warn', level: 'warn' }])
    await app.close()
  })

  it("keeps the id in a request logger's children, and per-route serializers", async () => {
    const { app, get } = await serve()
    expect(await get('/child', 'b-1')).toEqual([{ reqId: 'b-1', msg: 'from a child', level: 'warn', part: 'db' }])
    expect((await get('/serializers', 'b-2')).find((line) => line.msg === 'serialised')).toEqual({ reqId: 'b-2', msg: 'serialised', level: 'info', thing: 'X' })
    await app.close()
  })

  it("a level set on one request's logger is that request's alone; the app's level reaches the rest", async () => {
    const { app, get } = await serve()
    expect((await get('/debug', 'c-1')).map((line) => line.msg)).toContain('this request at debug')
    expect(app.log.level).toBe('info')
    expect((await get('/info', 'c-2')).map((line) => line.msg)).toEqual(['incoming request', 'at info', 'request completed'])
    app.log.level = 'warn'
    expect(await get('/info', 'c-3')).toEqual([])
    expect(await get('/warn', 'c-4')).toEqual([{ reqId: 'c-4', msg: 'at warn', level: 'warn' }])
    await app.close()
  })
})
