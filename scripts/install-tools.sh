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

# fetch <url> <file in $work>
fetch() { curl -fsSL --retry 3 -o "$work/$2" "$1"; }
# verify <file in $work> <expected sha256>
verify() {
  local actual
  actual=$( (sha256sum "$work/$1" 2>/dev/null || shasum -a 256 "$work/$1") | cut -d' ' -f1)
  [ "$actual" = "$2" ] || { echo "install-tools: checksum mismatch for $1" >&2; exit 1; }
}

# helm: https://helm.sh/docs/intro/install/
tgz="helm-v$HELM_VERSION-$os-$arch.tar.gz"
fetch "https://get.helm.sh/$tgz" "$tgz"
fetch "https://get.helm.sh/$tgz.sha256sum" "$tgz.sha256sum"
verify "$tgz" "$(cut -d' ' -f1 "$work/$tgz.sha256sum")"
tar -xzf "$work/$tgz" -C "$work" "$os-$arch/helm"
install -m 0755 "$work/$os-$arch/helm" "$dest/helm"

# promtool: part of the Prometheus release, https://prometheus.io/download/
name="prometheus-$PROMETHEUS_VERSION.$os-$arch"
base="https://github.com/prometheus/prometheus/releases/download/v$PROMETHEUS_VERSION"
fetch "$base/$name.tar.gz" "$name.tar.gz"
fetch "$base/sha256sums.txt" prometheus.sha256
verify "$name.tar.gz" "$(grep " $name.tar.gz\$" "$work/prometheus.sha256" | cut -d' ' -f1)"
tar -xzf "$work/$name.tar.gz" -C "$work" "$name/promtool"
install -m 0755 "$work/$name/promtool" "$dest/promtool"

# actionlint: https://github.com/rhysd/actionlint/blob/main/docs/install.md
tgz="actionlint_${ACTIONLINT_VERSION}_${os}_$arch.tar.gz"
base="https://github.com/rhysd/actionlint/releases/download/v$ACTIONLINT_VERSION"
fetch "$base/$tgz" "$tgz"
fetch "$base/actionlint_${ACTIONLINT_VERSION}_checksums.txt" actionlint.sha256
verify "$tgz" "$(grep " $tgz\$" "$work/actionlint.sha256" | cut -d' ' -f1)"
tar -xzf "$work/$tgz" -C "$work" actionlint
install -m 0755 "$work/actionlint" "$dest/actionlint"

"$dest/helm" version --short
"$dest/promtool" --version | head -n 1
"$dest/actionlint" -version | head -n 1
