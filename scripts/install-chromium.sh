#!/usr/bin/env bash
# Installs Chromium from Debian's packages when it is missing (the status page test takes a
# screenshot with headless Chromium). Chromium has no service: nothing is started, and
# nothing is stopped.
set -euo pipefail
for candidate in chromium chromium-browser; do
  if command -v "$candidate" >/dev/null 2>&1; then exit 0; fi
done
. "$(dirname "$0")/lib/apt-install.sh"
apt_install install-chromium \
  "chromium is missing and apt-get is not available; install it yourself." \
  chromium fonts-dejavu-core
