// isEntryPoint (src/entry.ts): a module runs its main() only when node was started with it.
import { symlink, mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { afterEach, describe, expect, it } from 'vitest'
import { isEntryPoint } from '../../src/entry.js'

const argv1 = process.argv[1]
afterEach(() => {
  process.argv[1] = argv1 as string
})

describe('isEntryPoint', () => {
  it('true for the script node was started with, also through a symlink; false for any other module', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'entry-'))
    try {
      const script = new URL('../../src/server.ts', import.meta.url)
      process.argv[1] = script.pathname
      expect(isEntryPoint(script.href)).toBe(true)
      expect(isEntryPoint(import.meta.url)).toBe(false)
      await symlink(script.pathname, join(dir, 'server.ts'))
      process.argv[1] = join(dir, 'server.ts')
      expect(isEntryPoint(script.href)).toBe(true)
      expect(isEntryPoint(pathToFileURL(join(dir, 'missing.ts')).href)).toBe(false)
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  })
})
