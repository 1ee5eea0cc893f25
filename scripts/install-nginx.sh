#!/usr/bin/env bash
# Installs NGINX from Debian's packages when it is missing (the auth_request tests run a
# real nginx in front of Gatehouse). Needs root or passwordless sudo on Debian/Ubuntu.
# The package's own service is kept from starting: the tests run their own nginx, and no
# other nginx on the host is ever touched.
set -euo pipefail
if command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ]; then
  exit 0
fi
. "$(dirname "$0")/lib/apt-install.sh"
apt_install install-nginx \
  "nginx is missing and apt-get is not available; install nginx (with the auth_request module) yourself." \
  --keep-services-down nginx

# Where an existing policy-rc.d allowed the start, stop that service the package's way:
# only the master whose pid the package's own start wrote to /run/nginx.pid.
pid_file=/run/nginx.pid
if [ -z "$apt_own_policy" ] && [ -s "$pid_file" ]; then
  pid="$(tr -dc '0-9' < "$pid_file")"
  if [ -n "$pid" ] && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "nginx" ] &&
    tr '\0' ' ' < "/proc/$pid/cmdline" 2>/dev/null | grep -q '^nginx: master process'; then
    echo "install-nginx: stopping the nginx service the package started (pid $pid)..." >&2
    if command -v service >/dev/null 2>&1; then
      $apt_sudo service nginx stop >/dev/null 2>&1 || $apt_sudo kill -TERM "$pid"
    else
      $apt_sudo kill -TERM "$pid"
    fi
  fi
fi
