#!/usr/bin/env bash
# Installs the binaries `npm test` needs besides Node and a Docker engine: helm, promtool
# (Prometheus) and actionlint, at the versions CI uses, into one directory (put it on PATH).
# Linux and macOS, amd64 and arm64. Each download is checked against the release's own
# checksum file.
#
#   bash scripts/install-tools.sh ~/.local/bin
#
# Versions (environment overrides): HELM_VERSION, PROMETHEUS_VERSION, ACTIONLINT_VERSION.
set -euo pipefail

dest="${1:?usage: scripts/install-tools.sh <directory on PATH>}"
HELM_VERSION="${HELM_VERSION:-4.0.0}"
PROMETHEUS_VERSION="${PROMETHEUS_VERSION:-3.5.0}"
ACTIONLINT_VERSION="${ACTIONLINT_VERSION:-1.7.12}"

os=$(uname -s | tr '[:upper:]' '[:lower:]')
case "$(uname -m)" in
  x86_64 | amd64) arch=amd64 ;;
  aarch64 | arm64) arch=arm64 ;;
  *) echo "install-tools: unsupported architecture $(uname -m)" >&2; exit 1 ;;
esac

mkdir -p "$dest"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# get <tool> <tarball URL> <checksum file URL> <path of the binary inside the tarball>:
# downloads the tarball, checks it against the release's checksum file ("<sha256>  <file>"
# lines), and installs the binary into $dest.
get() {
  local tool=$1 url=$2 sums=$3 member=$4 tgz expected actual
  tgz=$(basename "$url")
  curl -fsSL --retry 3 -o "$work/$tgz" "$url"
  curl -fsSL --retry 3 -o "$work/$tool.sha256" "$sums"
  expected=$(awk -v f="$tgz" '$2 == f || $2 == "*" f { print $1 }' "$work/$tool.sha256")
  actual=$( (sha256sum "$work/$tgz" 2>/dev/null || shasum -a 256 "$work/$tgz") | cut -d' ' -f1)
  if [ -z "$expected" ] || [ "$actual" != "$expected" ]; then
    echo "install-tools: $tgz does not match its checksum in $sums" >&2
    exit 1
  fi
  tar -xzf "$work/$tgz" -C "$work" "$member"
  install -m 0755 "$work/$member" "$dest/$tool"
}

# helm: https://helm.sh/docs/intro/install/
tgz="helm-v$HELM_VERSION-$os-$arch.tar.gz"
get helm "https://get.helm.sh/$tgz" "https://get.helm.sh/$tgz.sha256sum" "$os-$arch/helm"

# promtool: part of the Prometheus release, https://prometheus.io/download/
name="prometheus-$PROMETHEUS_VERSION.$os-$arch"
base="https://github.com/prometheus/prometheus/releases/download/v$PROMETHEUS_VERSION"
get promtool "$base/$name.tar.gz" "$base/sha256sums.txt" "$name/promtool"

# actionlint: https://github.com/rhysd/actionlint/blob/main/docs/install.md
base="https://github.com/rhysd/actionlint/releases/download/v$ACTIONLINT_VERSION"
get actionlint "$base/actionlint_${ACTIONLINT_VERSION}_${os}_$arch.tar.gz" "$base/actionlint_${ACTIONLINT_VERSION}_checksums.txt" actionlint

"$dest/helm" version --short
"$dest/promtool" --version | head -n 1
"$dest/actionlint" -version | head -n 1
