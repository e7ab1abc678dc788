// What went wrong with a dependency, read in one place from the errors that pg, ioredis
// and Node's net/dns raise. Three callers ask three questions of the same reading:
//  - the readiness probe's body (causeOf): a short cause that names no host, port, user
//    or query, since /ready answers anyone who reaches the port;
//  - the request error handler (dependencyDown): 503 with Retry-After rather than 500,
//    so a client or proxy retries, on this pod or another;
//  - start-up (isTransient): retry with backoff, or exit at once on what waiting cannot
//    cure (wrong password, missing database, an error in a migration's SQL).
// Dependency-free: copy it with whichever of them you take.

export class TimeoutError extends Error {
  override name = 'TimeoutError'
}

// Error codes of Node's net/dns, Postgres (SQLSTATE) and Redis, mapped to causes that
// name no peer.
const CAUSES: Record<string, string> = {
  ECONNREFUSED: 'connection refused',
  ECONNRESET: 'connection reset',
  EPIPE: 'connection reset',
  ETIMEDOUT: 'timeout',
  ENOTFOUND: 'name not resolved',
  EAI_AGAIN: 'name not resolved',
  EHOSTUNREACH: 'host unreachable',
  ENETUNREACH: 'host unreachable',
  '28P01': 'auth failed',
  '28000': 'auth failed',
  '3D000': 'database does not exist',
  '53300': 'too many connections',
  // A stopping Postgres ends every session (57P01 admin_shutdown, e.g. when its pod is
  // deleted; 57P02 crash_shutdown) and refuses new ones while it stops or starts (57P03).
  '57P01': 'server shutting down',
  '57P02': 'server shutting down',
  '57P03': 'server starting',
  NOAUTH: 'auth failed',
  WRONGPASS: 'auth failed',
  LOADING: 'server starting',
}

const SOCKET_ERRORS = new Set(['ECONNABORTED', 'ENOTCONN', 'ENETDOWN', 'ENETRESET', 'EADDRNOTAVAIL', 'EPROTO', 'ESHUTDOWN', 'ERR_SOCKET_CLOSED', 'ERR_STREAM_DESTROYED'])

/** The SQLSTATE of an error that Postgres itself sent (pg's DatabaseError carries a severity too). */
function sqlstate(err: Error): string | undefined {
  const { code, severity } = err as { code?: unknown; severity?: unknown }
  return typeof code === 'string' && typeof severity === 'string' ? code : undefined
}

/** A short cause fit for a probe body: no address, host, port, user or message text. */
export function causeOf(err: unknown): string {
  if (err instanceof TimeoutError) return 'timeout'
  if (!(err instanceof Error)) return 'error'
  const code = (err as { code?: unknown }).code
  if (typeof code === 'string' && CAUSES[code]) return CAUSES[code]
  // Redis replies carry their code as the message's first word (NOAUTH, WRONGPASS, LOADING).
  const word = /^[A-Z]+/.exec(err.message)?.[0]
  if (word && CAUSES[word]) return CAUSES[word]
  const state = sqlstate(err)
  // Client-side timeouts (pg's query_timeout, ioredis' commandTimeout) carry no SQLSTATE;
  // a statement Postgres cancelled (57014, statement_timeout) is an expensive query, not
  // an unreachable database: it stays an 'error' (500), which a retry would not mend.
  if (state === undefined && /timeout|timed out/i.test(err.message)) return 'timeout'
  if (/Connection terminated|connection is closed|Stream isn't writeable/i.test(err.message)) return 'not connected'
  // Other socket errors, or Postgres' class 08, connection exception. Not any E-code:
  // ENOENT or EACCES from the app's own file access are bugs, not a dependency down.
  if ((typeof code === 'string' && SOCKET_ERRORS.has(code)) || state?.startsWith('08')) return 'connection error'
  return 'error'
}

// Causes that say nothing about reachability: a bug, a bad query, or a configuration
// that no retry will mend. Every other cause is the dependency being down or busy.
const NOT_DOWN = new Set(['error', 'auth failed', 'database does not exist'])

/** The dependency cannot be reached or is not taking work (as opposed to a bug or a bad query). */
export function dependencyDown(err: unknown): boolean {
  return !NOT_DOWN.has(causeOf(err))
}

// SQLSTATEs that waiting can cure: 08 connection exception, 40001 serialization failure,
// 40P01 deadlock, 53 insufficient resources (53300 too many connections), 55P03 lock not
// available (lock_timeout), 57014 canceled, 57P0x server shutting down or starting.
const TRANSIENT_SQLSTATE = /^(08|40001|40P01|53|55P03|57014|57P0)/

/**
 * Whether retrying may succeed: an error Postgres sent, by its SQLSTATE (an error in a
 * migration's SQL is not); any other unless it is an authentication failure.
 */
export function isTransient(err: unknown): boolean {
  // PgBouncer refuses a startup parameter it does not know (08P01, a class that is
  // otherwise transient): pg sends statement_timeout as one. Only a configuration change
  // mends it (ignore_startup_parameters, or a direct connection).
  if (err instanceof Error && /unsupported startup parameter/i.test(err.message)) return false
  const state = err instanceof Error ? sqlstate(err) : undefined
  if (state !== undefined) return TRANSIENT_SQLSTATE.test(state)
  return causeOf(err) !== 'auth failed'
}

/** A fuller description for logs: the error's code and message, URLs masked, no stack. */
export function describeError(err: unknown): string {
  if (err instanceof TimeoutError) return err.message
  if (err instanceof Error) {
    const code = (err as { code?: unknown }).code
    const message = err.message.replace(/[a-z][a-z0-9+.-]*:\/\/\S+/gi, '[url]').slice(0, 200)
    return typeof code === 'string' && !message.includes(code) ? `${code}: ${message}` : message
  }
  return 'unknown error'
}
