// The external tools `npm test` needs besides Node: where each is found, and what a
// missing one says. Tests fail (never skip) without them, with a message that names the
// tool and how to get it: a clone must be able to act on it without this repository's CI.
import { accessSync, constants } from 'node:fs'
import { delimiter, join } from 'node:path'
import { getContainerRuntimeClient, type ContainerRuntimeClient } from 'testcontainers'

export interface Tool {
  /** Binary name looked up on PATH. */
  name: string
  /** Environment variable holding the binary's path; wins over PATH when set. */
  env?: string
  /** How to get it, for the error message. */
  install: string
}

// helm, promtool and actionlint at CI's versions, in one command (.github/workflows/ci.yml runs it).
const SCRIPT = '; or `bash scripts/install-tools.sh ~/.local/bin` installs it at the version CI uses'

export const helmTool: Tool = {
  name: 'helm',
  env: 'HELM_BIN',
  install: 'install Helm 4 (or 3.18+): https://helm.sh/docs/intro/install/ (e.g. `brew install helm`)' + SCRIPT,
}

export const promtoolTool: Tool = {
  name: 'promtool',
  env: 'PROMTOOL',
  install:
    'it ships in the Prometheus release tarball: https://prometheus.io/download/ (or `brew install prometheus`, ' +
    '`apt-get install prometheus`, `go install github.com/prometheus/prometheus/cmd/promtool@latest`)' + SCRIPT,
}

export const actionlintTool: Tool = {
  name: 'actionlint',
  env: 'ACTIONLINT',
  install:
    'https://github.com/rhysd/actionlint/blob/main/docs/install.md (e.g. `brew install actionlint`, ' +
    '`go install github.com/rhysd/actionlint/cmd/actionlint@latest`, or its release binary)' + SCRIPT,
}

export const kubectlTool: Tool = {
  name: 'kubectl',
  install: 'https://kubernetes.io/docs/tasks/tools/#kubectl (e.g. `brew install kubectl`)',
}

export const kindTool: Tool = {
  name: 'kind',
  install: 'https://kind.sigs.k8s.io/docs/user/quick-start/#installation (e.g. `brew install kind`)',
}

export const minikubeTool: Tool = {
  name: 'minikube',
  install: 'https://minikube.sigs.k8s.io/docs/start/ (e.g. `brew install minikube`)',
}

export function missingToolMessage(tool: Tool): string {
  const where = tool.env ? `set ${tool.env} to its path or put it on PATH` : 'put it on PATH'
  return `${tool.name} not found: ${where}; to install it, ${tool.install}`
}

const found = new Map<string, string>()

/** Absolute path of the tool (its env variable, else PATH); throws, naming it, when there is none. */
export function findTool(tool: Tool, env: NodeJS.ProcessEnv = process.env): string {
  const cached = found.get(tool.name)
  if (cached && env === process.env) return cached
  const fromEnv = tool.env ? env[tool.env] : undefined
  const candidates = fromEnv ? [fromEnv] : (env.PATH ?? '').split(delimiter).filter(Boolean).map((dir) => join(dir, tool.name))
  for (const candidate of candidates) {
    try {
      accessSync(candidate, constants.X_OK)
      if (env === process.env) found.set(tool.name, candidate)
      return candidate
    } catch {
      // not here, try the next PATH entry
    }
  }
  throw new Error(fromEnv ? `${tool.env ?? ''}=${fromEnv} is not an executable file. ${missingToolMessage(tool)}` : missingToolMessage(tool))
}

/** The container engine's client, or an error that says what to install or start (tests fail, never skip). */
export async function containerEngine(): Promise<ContainerRuntimeClient> {
  try {
    return await getContainerRuntimeClient()
  } catch (err) {
    throw new Error(
      `No Docker-compatible engine reachable (DOCKER_HOST=${process.env.DOCKER_HOST ?? '<unset>'}). ` +
        'These tests run Postgres, Redis and the image in containers: install and start Docker ' +
        '(https://docs.docker.com/engine/install/, or Docker Desktop) or Podman with its Docker API socket ' +
        '(`systemctl --user start podman.socket`, then DOCKER_HOST=unix://$XDG_RUNTIME_DIR/podman/podman.sock). ' +
        `Cause: ${String(err)}`,
      { cause: err },
    )
  }
}
