#!/usr/bin/env bash
# Installs redis-server from Debian's packages when it is missing (the shared DPoP replay
# store tests run a real redis-server of their own on a free loopback port). Needs root or
# passwordless sudo on Debian/Ubuntu. The package's own service is kept from starting: the
# tests start and stop their own server by pid, and no other redis on the host is touched.
set -euo pipefail
if command -v redis-server >/dev/null 2>&1 || [ -x /usr/bin/redis-server ]; then
  exit 0
fi
. "$(dirname "$0")/lib/apt-install.sh"
apt_install install-redis \
  "redis-server is missing and apt-get is not available; install redis-server (or valkey-server) yourself." \
  --keep-services-down redis-server
