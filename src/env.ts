// Reading settings from the environment: each parser names the variable and what it
// expects, and a bad value is a ConfigError; orExit turns it into one line on stderr and
// exit code 78 (EX_CONFIG), before any logger exists, so a pod with a bad setting goes
// to CrashLoopBackOff with the reason in `kubectl logs` instead of failing later, at its
// first request. No dependencies: config.ts lists the service's settings with these.

export class ConfigError extends Error {
  override name = 'ConfigError'
}

export type Env = Record<string, string | undefined>

export function read(env: Env, name: string): string | undefined {
  const value = env[name]
  return value === undefined || value.trim() === '' ? undefined : value.trim()
}

// Node clamps timers above 2^31-1 ms (24.8 days) to 1 ms: larger values would fire at once.
export const MAX_MS = 2_147_483_647

export function integer(env: Env, name: string, fallback: number, min: number, max = MAX_MS): number {
  const raw = read(env, name)
  if (raw === undefined) return fallback
  // Plain digits only: "10s", "1e3" or "0x10" are ambiguous units, not numbers.
  if (!/^\d+$/.test(raw) || Number(raw) < min || Number(raw) > max) {
    throw new ConfigError(`${name}=${raw}: expected an integer from ${min} to ${max}`)
  }
  return Number(raw)
}

export function fraction(env: Env, name: string, fallback: number): number {
  const raw = read(env, name)
  if (raw === undefined) return fallback
  const value = Number(raw)
  // Decimal or exponent form ("0.00001" or "1e-05", as Helm renders small floats).
  if (!/^(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i.test(raw) || !(value >= 0 && value <= 1)) {
    throw new ConfigError(`${name}=${raw}: expected a number from 0 to 1`)
  }
  return value
}

export function url(env: Env, name: string, protocols: readonly string[]): string {
  const raw = read(env, name)
  const example = `${protocols[0]}//host:port/...`
  if (raw === undefined) throw new ConfigError(`${name} is required: expected a URL like ${example}`)
  let parsed: URL
  try {
    parsed = new URL(raw)
  } catch {
    // Never echo the value: it may hold a password.
    throw new ConfigError(`${name} is not a valid URL: expected a URL like ${example}`)
  }
  if (!protocols.includes(parsed.protocol)) {
    throw new ConfigError(`${name} has protocol "${parsed.protocol}": expected one of ${protocols.join(', ')}`)
  }
  if (parsed.hostname === '') throw new ConfigError(`${name} has no host: expected a URL like ${example}`)
  return raw
}

export function host(env: Env, name: string, fallback: string): string {
  const raw = read(env, name) ?? fallback
  // An IPv4/IPv6 address or a host name; anything else would fail later, at listen().
  if (!/^[A-Za-z0-9.:_-]+$/.test(raw)) throw new ConfigError(`${name}=${raw}: expected an IP address or host name, e.g. 0.0.0.0 or ::`)
  return raw
}

// Exact origins (scheme, host, optional port), comma-separated: no wildcard, no path,
// since a browser sends exactly that in its Origin header.
export function origins(env: Env, name: string): string[] {
  const raw = read(env, name)
  if (raw === undefined) return []
  return raw.split(',').map((entry) => {
    const origin = entry.trim()
    let parsed: URL | undefined
    try {
      parsed = new URL(origin)
    } catch {
      parsed = undefined
    }
    if (!parsed || !['http:', 'https:'].includes(parsed.protocol) || parsed.origin !== origin) {
      throw new ConfigError(`${name}: "${origin}" is not an origin: expected a comma-separated list like https://app.example.com,http://localhost:3000`)
    }
    return origin
  })
}

/** Runs a configuration loader; on a ConfigError, the one line and exit 78 (the tracing preload's too). */
export function orExit<T>(load: () => T): T {
  try {
    return load()
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err
    process.stderr.write(`invalid configuration: ${err.message}\n`)
    return process.exit(78)
  }
}
