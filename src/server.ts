// Boots the service: validate config, build the app, install the shutdown handlers,
// listen, then initialise. Listening comes before initialisation on purpose: the
// kubelet can then see /startup answer 503 (and /health 200) while we connect,
// instead of connection-refused, which is indistinguishable from a dead process.
import { buildApp } from './app.js'
import { ConfigError, loadConfig, type Config } from './config.js'
import { createShutdown, handleSignals } from './shutdown.js'
import { initialise } from './startup.js'

let config: Config
try {
  config = loadConfig(process.env)
} catch (err) {
  if (!(err instanceof ConfigError)) throw err
  // One clear line, before any logger exists, and a non-zero exit: the pod goes to
  // CrashLoopBackOff with the reason in `kubectl logs`.
  process.stderr.write(`invalid configuration: ${err.message}\n`)
  process.exit(78) // EX_CONFIG
}

const app = await buildApp(config)
const startup = new AbortController()
handleSignals(
  createShutdown({
    app,
    lifecycle: app.lifecycle,
    drainDelayMs: config.drainDelayMs,
    timeoutMs: config.shutdownTimeoutMs,
    startup,
  }),
)
app.lifecycle.logStarting({ port: config.port, host: config.host, node: process.version })

try {
  await app.listen({ port: config.port, host: config.host })
} catch (err) {
  app.log.fatal({ err }, 'cannot listen')
  process.exit(1)
}

try {
  await initialise(app, startup.signal)
  app.lifecycle.enter('ready')
} catch (err) {
  // Aborted by a shutdown signal during startup: the shutdown sequence takes over.
  if (!startup.signal.aborted) throw err
}
