// kubectl and helm for the cluster suite: every call names the kube context and the
// namespace explicitly, so the suite never acts on whatever context kubectl happens to
// point at later, and a failed command throws with its stderr (nothing is skipped).
import { spawn } from 'node:child_process'

export interface CommandResult {
  code: number
  stdout: string
  stderr: string
}

/** Runs a command to completion with optional stdin; never throws for a non-zero exit. */
export function command(
  file: string,
  args: readonly string[],
  opts: { input?: string; timeoutMs?: number; env?: NodeJS.ProcessEnv } = {},
): Promise<CommandResult> {
  return new Promise((resolve) => {
    const child = spawn(file, args, { env: opts.env ?? process.env, stdio: ['pipe', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d))
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d))
    const timer = setTimeout(() => {
      stderr += `\n[killed after ${opts.timeoutMs} ms]`
      child.kill('SIGKILL')
    }, opts.timeoutMs ?? 120_000)
    child.on('error', (err) => {
      clearTimeout(timer)
      resolve({ code: -1, stdout, stderr: `${stderr}${err.message}` })
    })
    child.on('close', (code) => {
      clearTimeout(timer)
      resolve({ code: code ?? -1, stdout, stderr })
    })
    // A command that does not read its stdin may exit before the input is written: EPIPE
    // then says nothing, its exit code and output are the answer.
    child.stdin.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code !== 'EPIPE') stderr += `\n[writing stdin failed: ${err.message}]`
    })
    child.stdin.end(opts.input ?? '')
  })
}

export class CommandError extends Error {}

function check(file: string, args: readonly string[], r: CommandResult): CommandResult {
  if (r.code !== 0) {
    throw new CommandError(`${file} ${args.join(' ')} exited ${r.code}: ${(r.stderr || r.stdout).trim().slice(0, 2000)}`)
  }
  return r
}

/** Where the suite acts: one kube context, one namespace. */
export class Kube {
  constructor(
    readonly context: string,
    readonly namespace: string,
    readonly helmBin: string,
  ) {}

  withNamespace(namespace: string): Kube {
    return new Kube(this.context, namespace, this.helmBin)
  }

  private kubectlArgs(args: readonly string[]): string[] {
    return ['--context', this.context, '--namespace', this.namespace, ...args]
  }

  /** kubectl in the namespace; throws with stderr on failure. */
  async kubectl(args: readonly string[], opts: { input?: string; timeoutMs?: number } = {}): Promise<string> {
    const full = this.kubectlArgs(args)
    return check('kubectl', full, await command('kubectl', full, opts)).stdout
  }

  /** kubectl in the namespace; resolves with the exit code instead of throwing. */
  tryKubectl(args: readonly string[], opts: { input?: string; timeoutMs?: number } = {}): Promise<CommandResult> {
    return command('kubectl', this.kubectlArgs(args), opts)
  }

  async json<T>(args: readonly string[]): Promise<T> {
    return JSON.parse(await this.kubectl([...args, '-o', 'json'])) as T
  }

  /** kubectl apply of objects given as JavaScript values. */
  async apply(...objects: object[]): Promise<void> {
    await this.kubectl(['apply', '-f', '-'], { input: JSON.stringify({ apiVersion: 'v1', kind: 'List', items: objects }) })
  }

  /** helm with --kube-context and --namespace; throws with stderr on failure. */
  async helm(args: readonly string[], timeoutMs = 900_000): Promise<string> {
    const full = ['--kube-context', this.context, '--namespace', this.namespace, ...args]
    return check('helm', full, await command(this.helmBin, full, { timeoutMs })).stdout
  }

  /** `kubectl exec POD -- ...`, resolving with the exit code. */
  exec(pod: string, argv: readonly string[], timeoutMs = 60_000): Promise<CommandResult> {
    return this.tryKubectl(['exec', pod, '--', ...argv], { timeoutMs })
  }
}

// The parts of Kubernetes objects the suite reads.
export interface ContainerStatus {
  name: string
  ready: boolean
  started?: boolean
  restartCount: number
  containerID?: string
  state?: { running?: { startedAt: string }; terminated?: Terminated; waiting?: { reason?: string } }
  lastState?: { terminated?: Terminated }
}
export interface Terminated {
  exitCode: number
  reason?: string
  startedAt?: string
  finishedAt?: string
}
export interface Pod {
  metadata: { name: string; uid: string; labels?: Record<string, string>; deletionTimestamp?: string; creationTimestamp: string }
  spec: { nodeName?: string }
  status: {
    phase: string
    podIP?: string
    conditions?: { type: string; status: string }[]
    containerStatuses?: ContainerStatus[]
  }
}
export interface EndpointSlice {
  metadata: { name: string; labels?: Record<string, string> }
  endpoints?: { addresses: string[]; targetRef?: { name: string }; conditions?: { ready?: boolean; serving?: boolean; terminating?: boolean } }[]
}
export interface KubeEvent {
  metadata: { name: string; uid: string }
  involvedObject: { kind: string; name: string }
  reason: string
  message: string
  type: string
  count?: number
  firstTimestamp?: string
  lastTimestamp?: string
  eventTime?: string
}
export interface List<T> {
  items: T[]
}
