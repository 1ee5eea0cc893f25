#!/usr/bin/env bash
# Everything the test suite needs on a fresh machine: npm packages, the pinned opa CLI,
# nginx, and the pinned Envoy (.tools/bin/envoy). Each step does nothing when its tool is
# already there.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
bash scripts/ensure-node-modules.sh
bash scripts/install-opa.sh
bash scripts/install-nginx.sh
bash scripts/install-redis.sh
bash scripts/install-envoy.sh >/dev/null
bash scripts/install-chromium.sh
