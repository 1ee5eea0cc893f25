# Sourced by the scripts/install-*.sh scripts: installs Debian packages with apt-get, as root
# or through passwordless sudo, optionally without letting the packages start their services.
# Defines apt_sudo (the prefix for privileged commands), apt_own_policy (non-empty while this
# script's own policy-rc.d forbids service starts) and apt_install.

apt_sudo=""
if [ "$(id -u)" != "0" ]; then apt_sudo="sudo -n"; fi
apt_own_policy=""

# Debian's maintainer scripts start services through invoke-rc.d (and deb-systemd-invoke),
# which ask /usr/sbin/policy-rc.d first; exit status 101 means "action forbidden"
# (Debian policy, invoke-rc.d(8)). An existing policy-rc.d is someone else's: keep it.
apt_policy=/usr/sbin/policy-rc.d
apt_forbid_service_starts() {
  local who="$1"
  if [ ! -e "$apt_policy" ]; then
    $apt_sudo sh -c "printf '#!/bin/sh\n# Written by gatehouse scripts/$who.sh while it runs.\nexit 101\n' > $apt_policy && chmod 755 $apt_policy"
    apt_own_policy="yes"
  fi
  trap apt_remove_policy EXIT
}
apt_remove_policy() {
  if [ -n "$apt_own_policy" ]; then $apt_sudo rm -f "$apt_policy"; fi
}

# apt_install WHO MISSING_MESSAGE [--keep-services-down] PACKAGE...
# WHO names the calling script in messages; MISSING_MESSAGE is printed where apt-get is not
# available (what to install by hand).
apt_install() {
  local who="$1" missing="$2"
  shift 2
  local keep_down=""
  if [ "${1:-}" = "--keep-services-down" ]; then
    keep_down="yes"
    shift
  fi
  if ! command -v apt-get >/dev/null 2>&1; then
    echo "$who: $missing" >&2
    exit 1
  fi
  if [ -n "$keep_down" ]; then apt_forbid_service_starts "$who"; fi
  echo "$who: installing $* from Debian packages..." >&2
  export DEBIAN_FRONTEND=noninteractive
  $apt_sudo apt-get update -qq
  $apt_sudo apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}
