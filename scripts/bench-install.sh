#!/usr/bin/env bash
# Installs the benchmark's own tools, pinned, into .tools/bin (git-ignored):
#   - opa-envoy-plugin (the peer we compare against), built with `go install`
#   - ghz (gRPC load generator), built with `go install`
#   - h2load (Debian nghttp2-client) and wrk (Debian wrk) for the HTTP check path
# Nothing is downloaded as a prebuilt binary: Go modules come through the Go module
# proxy, the rest from Debian packages. Idempotent: each step is skipped when the pinned
# version is already there.
set -euo pipefail

OPA_ENVOY_VERSION="${BENCH_OPA_ENVOY_VERSION:-v1.19.1-envoy}"
# `go list -m -versions` only shows v0.93.0 (later tags lack a go.mod at the module root
# in the proxy's listing), but the tag resolves; v0.120.0 is the newest release.
GHZ_VERSION="${BENCH_GHZ_VERSION:-v0.120.0}"

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bin_dir="$root/.tools/bin"
stamp_dir="$root/.tools/stamps"
mkdir -p "$bin_dir" "$stamp_dir"

need_go() {
  if ! command -v go >/dev/null 2>&1; then
    echo "bench-install: Go is required (go install) to build $1" >&2
    exit 1
  fi
}

# go install, unless the binary and a stamp naming the same version are present.
go_tool() {
  local name="$1" pkg="$2" version="$3"
  local stamp="$stamp_dir/$name.version"
  if [ -x "$bin_dir/$name" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$version" ]; then
    return 0
  fi
  need_go "$name"
  echo "bench-install: building $name $version (one-time, a few minutes)..." >&2
  local t0=$SECONDS
  # CGO off: static binaries, no C toolchain needed.
  # `|| return 1`: set -e does not apply inside a function called from an `if`.
  CGO_ENABLED=0 GOBIN="$bin_dir" go install "$pkg@$version" || return 1
  echo "$version" >"$stamp"
  echo "bench-install: $name $version built in $((SECONDS - t0)) s" >&2
}

# The peer. If the module proxy refuses opa-envoy-plugin (this happens: a 403 "module
# version is not available"), build the stand-in in bench/opa-ext-authz instead (OPA's Go
# SDK behind the same ext_authz service and input mapping); bench/run.ts labels it
# "OPA-Envoy*" in every table.
# BENCH_PEER_BIN names an opa-envoy-plugin binary built elsewhere: nothing to build.
if [ -n "${BENCH_PEER_BIN:-}" ]; then
  [ -x "$BENCH_PEER_BIN" ] || { echo "bench-install: BENCH_PEER_BIN=$BENCH_PEER_BIN is not executable" >&2; exit 1; }
elif ! go_tool opa-envoy-plugin github.com/open-policy-agent/opa-envoy-plugin/cmd/opa-envoy-plugin "$OPA_ENVOY_VERSION"; then
  echo "bench-install: opa-envoy-plugin $OPA_ENVOY_VERSION is not installable here; building the stand-in bench/opa-ext-authz" >&2
  # Built inside this checkout (bench/.build, git-ignored), not in .tools/bin: the stand-in
  # is source in this repository and two checkouts may hold different versions of it.
  build_dir="$root/bench/.build"
  mkdir -p "$build_dir"
  stamp="$build_dir/opa-ext-authz.sum"
  sum="$(cat "$root/bench/opa-ext-authz/main.go" "$root/bench/opa-ext-authz/go.mod" "$root/bench/opa-ext-authz/go.sum" | sha256sum | cut -d' ' -f1)"
  if [ ! -x "$build_dir/opa-ext-authz" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$sum" ]; then
    t0=$SECONDS
    (cd "$root/bench/opa-ext-authz" && CGO_ENABLED=0 go build -o "$build_dir/opa-ext-authz" .)
    echo "$sum" >"$stamp"
    echo "bench-install: opa-ext-authz built in $((SECONDS - t0)) s" >&2
  fi
fi
go_tool ghz github.com/bojand/ghz/cmd/ghz "$GHZ_VERSION"

# Gatehouse itself needs the pinned opa CLI to compile Rego to WebAssembly.
bash "$root/scripts/install-opa.sh"

missing=()
command -v h2load >/dev/null 2>&1 || missing+=(nghttp2-client)
command -v wrk >/dev/null 2>&1 || missing+=(wrk)
command -v taskset >/dev/null 2>&1 || missing+=(util-linux)
if [ "${#missing[@]}" -gt 0 ]; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  echo "bench-install: apt-get install ${missing[*]}" >&2
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
fi
