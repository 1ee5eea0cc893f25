#!/usr/bin/env bash
# Installs Chromium from Debian's packages when it is missing (the status page test takes a
# screenshot with headless Chromium). Chromium has no service: nothing is started, and
# nothing is stopped.
set -euo pipefail
for candidate in chromium chromium-browser; do
  if command -v "$candidate" >/dev/null 2>&1; then exit 0; fi
done
if ! command -v apt-get >/dev/null 2>&1; then
  echo "install-chromium: chromium is missing and apt-get is not available; install it yourself." >&2
  exit 1
fi
sudo=""
if [ "$(id -u)" != "0" ]; then sudo="sudo -n"; fi
echo "install-chromium: installing chromium from Debian packages..." >&2
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core >/dev/null
