#!/usr/bin/env bash
# Installs the pinned `opa` CLI into .tools/bin (git-ignored) with `go install`, unless a
# suitable one is already there. Gatehouse needs it to compile Rego to WebAssembly.
# Usage: scripts/install-opa.sh          (quiet when already installed)
set -euo pipefail

OPA_VERSION="${GATEHOUSE_OPA_VERSION:-v1.22.2}"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bin_dir="$root/.tools/bin"
target="$bin_dir/opa"

installed_version() {
  "$1" version 2>/dev/null | awk '/^Version:/ {print "v"$2; exit}'
}

if [ -x "$target" ] && [ "$(installed_version "$target")" = "$OPA_VERSION" ]; then
  exit 0
fi

if ! command -v go >/dev/null 2>&1; then
  echo "install-opa: Go is required to build opa $OPA_VERSION (go install). Install Go >= 1.22," >&2
  echo "  or put an opa $OPA_VERSION binary on PATH / in OPA_BIN." >&2
  exit 1
fi

echo "install-opa: building opa $OPA_VERSION into $bin_dir (one-time, a few minutes)..." >&2
mkdir -p "$bin_dir"
# CGO off: a static binary, and no C toolchain needed.
CGO_ENABLED=0 GOBIN="$bin_dir" go install "github.com/open-policy-agent/opa@$OPA_VERSION"
echo "install-opa: $("$target" version | head -1)" >&2
