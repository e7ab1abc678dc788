import type pg from 'pg'
import type { Check } from '../readiness.js'

// On a connection of its own, kept open between rounds, not through the app's pool:
// readiness answers "can this pod reach its database?", not "is this pod busy?". Through
// the pool, a spike that holds every pooled connection (slow queries, a burst of
// requests) made the check wait in the pool's queue and time out, on every replica at
// once: a global spike emptied the Service's endpoints and turned slowness into a full
// outage. A busy pod sheds instead (503 + Retry-After) and the HPA adds replicas.
// A real outage still fails the check: the connection dies (reset, terminated), or the
// query or a new connection times out, and any failure drops the connection so the next
// round starts from a new one.
export function postgresCheck(connect: () => pg.Client, timeoutMs: number): Check {
  let client: Promise<pg.Client> | undefined
  const drop = (c: Promise<pg.Client> | undefined) => {
    if (client === c) client = undefined
    void c?.then((conn) => conn.end()).catch(() => undefined)
  }
  return {
    name: 'postgres',
    run: async () => {
      if (!client) {
        const conn = connect()
        const connecting = conn.connect().then(() => conn)
        // A connection lost between rounds emits 'error'; without a listener it would
        // crash the process. The next round's query fails and reconnects.
        conn.on('error', () => drop(connecting))
        client = connecting
      }
      const current = client
      try {
        return await (await current).query({ text: 'SELECT 1', query_timeout: timeoutMs } as { text: string })
      } catch (err) {
        drop(current)
        throw err
      }
    },
  }
}
