// The tracing preload, run before the service's own modules:
//
//   node --import ./dist/tracing.js dist/server.js
//
// It has to run first: instrumentation patches pg and ioredis as they are loaded, and an
// ES module is loaded once, so a preload is the only place it can (the OpenTelemetry JS
// maintainers' way for ESM services). With tracing off (no OTLP endpoint set,
// OTEL_SDK_DISABLED=true) it reads the variables and returns: no loader hook, no SDK, no
// instrumentation is loaded, and a request costs what it did without tracing.
// A bad OTEL_* value exits 78 with one line naming it, as server.ts does for the rest.
import { orExit } from './env.js'
import { loadTracingConfig } from './tracing-config.js'

const config = orExit(() => loadTracingConfig(process.env))

if (config !== undefined) {
  // ES module imports of pg and ioredis go through import-in-the-middle's loader hook
  // (require() calls through require-in-the-middle, no hook needed); only those two are
  // intercepted, so no other module pays for it. In-thread (module.registerHooks) where
  // Node supports it, else on the loader thread.
  const include = ['pg', 'ioredis']
  const hooks = await import('import-in-the-middle/register-hooks.mjs')
  if (hooks.supportsSyncHooks()) hooks.register({ include })
  else (await import('node:module')).register('import-in-the-middle/hook.mjs', import.meta.url, { data: { include } })
  await (await import('./tracing-sdk.js')).startTracing(config)
}
