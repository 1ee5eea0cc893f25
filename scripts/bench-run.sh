#!/usr/bin/env bash
# `npm run bench`: installs the pinned benchmark tools (idempotent), then runs
# bench/run.ts. Not part of `npm test`. Knobs: see the header of bench/run.ts.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
bash scripts/ensure-node-modules.sh
bash scripts/bench-install.sh
if [ "$(nproc)" -lt 2 ]; then
  echo "bench-run: needs at least 2 cores (server on one, load generator on the other)" >&2
  exit 1
fi
# Gatehouse runs from the built dist/, as users run it.
npm run --silent build
exec node --import tsx bench/run.ts "$@"
