// The one reading of dependency errors (src/errors.ts) and the three questions asked of it.
// Errors are shaped as the clients raise them: pg's DatabaseError with the fields its
// protocol parser sets, Node's system errors with their codes, ioredis' reply errors
// with the server's code as the message's first word. The real ones, from real servers,
// are met in test/integration (503 during outages) and test/process (start-up exits).
import pg from 'pg'
import { describe, expect, it } from 'vitest'
import { causeOf, dependencyDown, describeError, isTransient, TimeoutError } from '../../src/errors.js'

const coded = (code: string, message = 'x') => Object.assign(new Error(message), { code })
const postgres = (code: string, message: string, severity = 'ERROR') =>
  Object.assign(new pg.DatabaseError(message, message.length, 'error'), { code, severity })

describe('causeOf', () => {
  it.each([
    [coded('ECONNREFUSED', 'connect ECONNREFUSED 10.1.2.3:5432'), 'connection refused'],
    [coded('ENOTFOUND', 'getaddrinfo ENOTFOUND db.internal'), 'name not resolved'],
    [coded('ECONNABORTED', 'socket 10.1.2.3:6379 aborted'), 'connection error'],
    [postgres('28P01', 'password authentication failed for user "app"', 'FATAL'), 'auth failed'],
    [postgres('3D000', 'database "app" does not exist', 'FATAL'), 'database does not exist'],
    [postgres('57P01', 'terminating connection due to administrator command', 'FATAL'), 'server shutting down'],
    [postgres('08006', 'connection failure at 10.1.2.3', 'FATAL'), 'connection error'],
    [new Error('WRONGPASS invalid username-password pair or user is disabled.'), 'auth failed'],
    [new Error('NOAUTH Authentication required.'), 'auth failed'],
    [new Error('Query read timeout'), 'timeout'],
    [new TimeoutError('a timed out after 5 ms'), 'timeout'],
    [new Error("Stream isn't writeable and enableOfflineQueue options is false"), 'not connected'],
    [new Error('Connection terminated unexpectedly'), 'not connected'],
    [postgres('42P01', 'relation "secret_table" does not exist'), 'error'],
    // A code of that shape from anything but Postgres is not a SQLSTATE.
    [coded('08006', 'from somewhere else'), 'error'],
    [new Error('relation "secret_table" does not exist at 10.0.0.1'), 'error'],
    ['not an error', 'error'],
  ])('%s -> %s', (err, cause) => {
    expect(causeOf(err)).toBe(cause)
  })
})

describe('dependencyDown: 503 with Retry-After, not 500', () => {
  it.each([
    coded('ECONNREFUSED'),
    coded('ECONNABORTED'),
    new Error('Connection terminated unexpectedly'),
    new Error('Query read timeout'),
    new TimeoutError('postgres timed out after 2000 ms'),
    // A Postgres that is stopping (its pod deleted, scaled to 0) or starting, or full.
    postgres('57P01', 'terminating connection due to administrator command', 'FATAL'),
    postgres('57P03', 'the database system is starting up', 'FATAL'),
    postgres('08006', 'connection failure', 'FATAL'),
    postgres('53300', 'sorry, too many clients already', 'FATAL'),
  ])('down: %s', (err) => {
    expect(dependencyDown(err)).toBe(true)
  })

  it.each([
    new Error('Cannot read properties of undefined'),
    // A statement Postgres cancelled (statement_timeout): an expensive query, which a
    // retry would repeat, not a database that cannot be reached.
    postgres('57014', 'canceling statement due to statement timeout'),
    // The app's own file access: a bug or a deployment mistake, not a dependency.
    coded('ENOENT', "ENOENT: no such file or directory, open '/app/data.json'"),
    coded('EACCES', "EACCES: permission denied, open '/app/data.json'"),
    postgres('42P01', 'relation "orders" does not exist'),
    postgres('23505', 'duplicate key value violates unique constraint'),
    postgres('28P01', 'password authentication failed', 'FATAL'),
    'not an error',
  ])('not down (a bug, a bad query or bad configuration): %s', (err) => {
    expect(dependencyDown(err)).toBe(false)
  })
})

describe('isTransient: retried at start-up, or one fatal line and exit', () => {
  it.each([
    coded('ECONNREFUSED'),
    coded('ENOTFOUND'),
    new TimeoutError('redis timed out after 2000 ms'),
    new Error('LOADING Redis is loading the dataset in memory'),
    postgres('57P03', 'the database system is starting up', 'FATAL'),
    postgres('53300', 'sorry, too many clients already', 'FATAL'),
    postgres('55P03', 'canceling statement due to lock timeout'),
    postgres('40P01', 'deadlock detected'),
    postgres('57014', 'canceling statement due to statement timeout'),
  ])('transient: %s', (err) => {
    expect(isTransient(err)).toBe(true)
  })

  it.each([
    postgres('28P01', 'password authentication failed for user "app"', 'FATAL'),
    postgres('3D000', 'database "app" does not exist', 'FATAL'),
    // An error in a migration's SQL: waiting cannot cure it.
    postgres('42601', 'syntax error at or near "CREAT"'),
    new Error('WRONGPASS invalid username-password pair or user is disabled.'),
    // PgBouncer refuses pg's statement_timeout startup parameter (class 08, otherwise transient).
    postgres('08P01', 'unsupported startup parameter: statement_timeout', 'FATAL'),
    // A server older than 14 (migrate.ts names the version in the message).
    postgres('42704', 'Postgres 14 or later is required: unrecognized configuration parameter "client_connection_check_interval"'),
  ])('permanent: %s', (err) => {
    expect(isTransient(err)).toBe(false)
  })
})

describe('describeError', () => {
  it('keeps code and message but strips URLs', () => {
    const err = Object.assign(new Error('cannot reach postgres://app:pw@db:5432/app'), { code: 'E1' })
    expect(describeError(err)).toBe('E1: cannot reach [url]')
  })
  it('describes timeouts and non-errors', () => {
    expect(describeError(new TimeoutError('x timed out after 5 ms'))).toBe('x timed out after 5 ms')
    expect(describeError('boom')).toBe('unknown error')
  })
})
