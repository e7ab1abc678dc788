// Runs the pending migrations and exits: the chart's pre-upgrade Job
// (migrations.job.enabled), for a migration longer than the startup probe's budget, which
// would otherwise be killed mid-statement by the kubelet, leave an INVALID index behind and
// loop. The same migrations, advisory lock and bookkeeping as startup (startup.ts): pods
// that start afterwards find them applied. Exit codes: 0 done, 70 a permanent failure (bad
// SQL, wrong password), 1 a transient one (the Job's backoffLimit retries it), 78 bad config.
// `node dist/migrate-job.js` runs main(); test/fixtures/migrate-job.ts adds the fixture's migrations.
import pino from 'pino'
import { loadConfigOrExit } from './config.js'
import { isEntryPoint } from './entry.js'
import { describeError, isTransient } from './errors.js'
import { logDestination, loggerOptions } from './logger.js'
import { migrate, type Migration } from './migrate.js'
import { createPgClient } from './plugins/postgres.js'
import { EXIT_STARTUP_FAILED } from './startup.js'

export async function main(options: { migrations?: readonly Migration[] } = {}): Promise<never> {
  const config = loadConfigOrExit(process.env)
  const log = pino(loggerOptions(config.logLevel), logDestination())
  // A Job's pod deleted mid-migration (helm rollback, a node drain): give up at once; the
  // server rolls the migration's transaction back when the connection closes.
  const abort = new AbortController()
  process.once('SIGTERM', () => abort.abort())
  process.once('SIGINT', () => abort.abort())

  const start = performance.now()
  try {
    const applied = await migrate({ connect: () => createPgClient(config.databaseUrl, 'migrate-job'), signal: abort.signal, migrations: options.migrations })
    log.info({ migrationsApplied: applied, ms: Math.round(performance.now() - start) }, 'migrations: done')
    process.exit(0)
  } catch (err) {
    const code = abort.signal.aborted || isTransient(err) ? 1 : EXIT_STARTUP_FAILED
    log.fatal({ exitCode: code, reason: describeError(err) }, `migrations: failed: ${describeError(err)}`)
    process.exit(code)
  }
}

if (isEntryPoint(import.meta.url)) await main()
