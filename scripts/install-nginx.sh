#!/usr/bin/env bash
# Installs NGINX from Debian's packages when it is missing (the auth_request tests run a
# real nginx in front of Gatehouse). Needs root or passwordless sudo on Debian/Ubuntu.
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
echo "install-nginx: installing nginx from Debian packages..." >&2
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends nginx >/dev/null
# The package may start a system nginx on port 80; the tests run their own.
$sudo pkill -x nginx 2>/dev/null || true
