// Which TCP connections a process holds to a given remote port, read from /proc (Linux):
// lets a test count the connections the service opens to a dependency while it hangs,
// from outside the process and without instrumenting it.
import { readFileSync, readdirSync, readlinkSync } from 'node:fs'

/** Socket inodes of the TCP connections `pid` holds to remote port `port` (any state but LISTEN). */
export function connectionsTo(pid: number, port: number): Set<string> {
  const own = new Set<string>()
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    let target: string
    try {
      target = readlinkSync(`/proc/${pid}/fd/${fd}`)
    } catch {
      continue // closed since the listing
    }
    const inode = /^socket:\[(\d+)\]$/.exec(target)?.[1]
    if (inode) own.add(inode)
  }
  const found = new Set<string>()
  for (const table of ['tcp', 'tcp6']) {
    let text: string
    try {
      text = readFileSync(`/proc/${pid}/net/${table}`, 'utf8')
    } catch {
      continue // no IPv6
    }
    for (const line of text.split('\n').slice(1)) {
      // sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode ...
      const cols = line.trim().split(/\s+/)
      const [remote, state, inode] = [cols[2], cols[3], cols[9]]
      if (!remote || !inode || state === '0A') continue
      if (parseInt(remote.slice(remote.lastIndexOf(':') + 1), 16) === port && own.has(inode)) found.add(inode)
    }
  }
  return found
}
