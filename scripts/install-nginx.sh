#!/usr/bin/env bash
# Installs NGINX from Debian's packages when it is missing (the auth_request tests run a
# real nginx in front of Gatehouse). Needs root or passwordless sudo on Debian/Ubuntu.
# The package's own service is kept from starting: the tests run their own nginx, and no
# other nginx on the host is ever touched.
set -euo pipefail
if command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ]; then
  exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "install-nginx: nginx is missing and apt-get is not available; install nginx (with the auth_request module) yourself." >&2
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
  $sudo sh -c "printf '#!/bin/sh\n# Written by gatehouse scripts/install-nginx.sh while it runs.\nexit 101\n' > $policy && chmod 755 $policy"
  own_policy="yes"
fi
remove_policy() {
  if [ -n "$own_policy" ]; then $sudo rm -f "$policy"; fi
}
trap remove_policy EXIT

echo "install-nginx: installing nginx from Debian packages..." >&2
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends nginx >/dev/null

# Where an existing policy-rc.d allowed the start, stop that service the package's way:
# only the master whose pid the package's own start wrote to /run/nginx.pid.
pid_file=/run/nginx.pid
if [ -z "$own_policy" ] && [ -s "$pid_file" ]; then
  pid="$(tr -dc '0-9' < "$pid_file")"
  if [ -n "$pid" ] && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "nginx" ] &&
    tr '\0' ' ' < "/proc/$pid/cmdline" 2>/dev/null | grep -q '^nginx: master process'; then
    echo "install-nginx: stopping the nginx service the package started (pid $pid)..." >&2
    if command -v service >/dev/null 2>&1; then
      $sudo service nginx stop >/dev/null 2>&1 || $sudo kill -TERM "$pid"
    else
      $sudo kill -TERM "$pid"
    fi
  fi
fi
