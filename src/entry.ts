// Whether a module is the process's entry point (`node dist/server.js`), so the same
// module can run as a process and be imported: the test fixture server imports
// server.ts's main() and calls it with its extra routes.
import { realpathSync } from 'node:fs'
import { fileURLToPath } from 'node:url'

/** True when `importMetaUrl` (the caller's import.meta.url) is the script node was started with. */
export function isEntryPoint(importMetaUrl: string): boolean {
  const script = process.argv[1]
  if (script === undefined) return false
  try {
    return realpathSync(script) === realpathSync(fileURLToPath(importMetaUrl))
  } catch {
    return false
  }
}
