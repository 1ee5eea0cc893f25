#!/usr/bin/env bash
# Starts Gatehouse with the example policies and the dev signing key. Installs what it
# needs first (npm packages, the pinned opa CLI), builds, then runs.
# Usage: npm start [-- --config FILE]
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

bash scripts/ensure-node-modules.sh
bash scripts/install-opa.sh
npm run --silent build
node dist/dev/ensure-dev-key.js

config="config/gatehouse.dev.yaml"
if [ "${1:-}" = "--config" ] && [ -n "${2:-}" ]; then config="$2"; fi
exec node dist/main.js --config "$config"
