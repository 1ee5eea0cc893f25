#!/usr/bin/env bash
# Installs redis-server from Debian's packages when it is missing (the shared DPoP replay
# store tests run a real redis-server of their own on a free loopback port). Needs root or
# passwordless sudo on Debian/Ubuntu. The package's own service is kept from starting: the
# tests start and stop their own server by pid, and no other redis on the host is touched.
set -euo pipefail
if command -v redis-server >/dev/null 2>&1 || [ -x /usr/bin/redis-server ]; then
  exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "install-redis: redis-server is missing and apt-get is not available; install redis-server (or valkey-server) yourself." >&2
  exit 1
fi
sudo=""
if [ "$(id -u)" != "0" ]; then sudo="sudo -n"; fi

# Debian's maintainer scripts start services through invoke-rc.d (and deb-systemd-invoke),
# which ask /usr/sbin/policy-rc.d first; exit status 101 means "action forbidden"
# (Debian policy, invoke-rc.d(8)). An existing policy-rc.d is someone else's: keep it.
policy=/usr/sbin/policy-rc.d
own_policy=""
if [ ! -e "$policy" ]; then
  $sudo sh -c "printf '#!/bin/sh\n# Written by gatehouse scripts/install-redis.sh while it runs.\nexit 101\n' > $policy && chmod 755 $policy"
  own_policy="yes"
fi
remove_policy() {
  if [ -n "$own_policy" ]; then $sudo rm -f "$policy"; fi
}
trap remove_policy EXIT

echo "install-redis: installing redis-server from Debian packages..." >&2
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends redis-server >/dev/null
