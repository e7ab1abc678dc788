// .env.example and the README's configuration table cannot go stale: both name exactly the
// variables src/config.ts reads, and .env.example's values are config.ts's defaults.
import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { loadConfig } from '../../src/config.js'

const root = new URL('../../', import.meta.url)
const configSource = readFileSync(new URL('src/config.ts', root), 'utf8')
// Every name config.ts reads: read(env, 'X'), integer(env, 'X', ...), fraction(...), url(...).
const configNames = [...new Set([...configSource.matchAll(/\(env, '([A-Z][A-Z0-9_]*)'/g)].map((m) => m[1]!))].sort()

function parseEnvFile(text: string): Record<string, string> {
  const out: Record<string, string> = {}
  for (const line of text.split('\n')) {
    const m = /^([A-Z][A-Z0-9_]*)=(.*)$/.exec(line.trim())
    if (m) out[m[1]!] = m[2]!
  }
  return out
}

const example = parseEnvFile(readFileSync(new URL('.env.example', root), 'utf8'))
const REQUIRED = ['DATABASE_URL', 'REDIS_URL']

describe('.env.example', () => {
  it('reads the variables config.ts reads (the test itself found them)', () => {
    expect(configNames.length).toBeGreaterThan(15)
    expect(configNames).toEqual(expect.arrayContaining(['PORT', 'HOST', 'LOG_LEVEL', ...REQUIRED]))
  })

  it('lists every variable of src/config.ts, and nothing else', () => {
    expect(Object.keys(example).sort()).toEqual(configNames)
  })

  it("gives each optional variable config.ts's default", () => {
    const required = Object.fromEntries(REQUIRED.map((name) => [name, example[name]]))
    // The same Config with only the required variables (defaults) as with the whole file.
    expect(loadConfig(example)).toEqual(loadConfig(required))
    // And each value as written is the default's own spelling, not just an equivalent one.
    const defaults = loadConfig(required) as unknown as Record<string, unknown>
    const values = Object.values(defaults).map(String)
    for (const [name, value] of Object.entries(example)) if (!REQUIRED.includes(name)) expect(values, name).toContain(value)
  })

  it('points the required URLs at the compose Postgres and Redis on 127.0.0.1', () => {
    const compose = readFileSync(new URL('docker-compose.yml', root), 'utf8')
    expect(example.DATABASE_URL).toBe('postgres://app:app@127.0.0.1:5432/app')
    expect(example.REDIS_URL).toBe('redis://127.0.0.1:6379')
    expect(compose).toContain('"127.0.0.1:${POSTGRES_PORT:-5432}:5432"')
    expect(compose).toContain('"127.0.0.1:${REDIS_PORT:-6379}:6379"')
  })
})

describe("README's configuration table", () => {
  it('has a row for every variable of src/config.ts, with its default', () => {
    const readme = readFileSync(new URL('README.md', root), 'utf8')
    const start = readme.indexOf('\n## Configuration')
    const end = readme.indexOf('\n## ', start + 1)
    const section = readme.slice(start, end === -1 ? undefined : end)
    const rows = new Map([...section.matchAll(/^\| `([A-Z][A-Z0-9_]*)` \| (`[^`]*`|required) \|/gm)].map((m) => [m[1]!, m[2]!.replaceAll('`', '')]))
    expect([...rows.keys()].sort()).toEqual(configNames)
    for (const [name, value] of Object.entries(example)) expect(rows.get(name), name).toBe(REQUIRED.includes(name) ? 'required' : value)
  })
})
