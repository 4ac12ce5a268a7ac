#!/usr/bin/env bash
# Checks deploy/augerino.service without systemd running as PID 1, alone and with the drop-in
# deploy/augerino-fleet.conf (hosts sharing a PostgreSQL queue):
#   systemd-analyze verify                 must print nothing
#   systemd-analyze security --offline=yes must rate the exposure 2.0 or lower
# verify wants ExecStart's binary where the unit says (/usr/local/bin/augerino); when it is not
# installed there, a copy of BINARY (default .build/release/augerino, else .build/debug/augerino)
# is put there for the check and removed afterwards.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
unit="$here/augerino.service"
command -v systemd-analyze >/dev/null || { echo "skipped: systemd-analyze is not installed (Debian package systemd)"; exit 0; }
installed=no
if [[ ! -x /usr/local/bin/augerino ]]; then
  binary=${1:-}
  for candidate in "$binary" "$here/../.build/release/augerino" "$here/../.build/debug/augerino"; do
    [[ -n $candidate && -x $candidate ]] && { binary=$candidate; break; }
  done
  [[ -x ${binary:-} ]] || { echo "error: no augerino binary to check ExecStart with; run swift build first" >&2; exit 2; }
  install -m 0755 "$binary" /usr/local/bin/augerino
  installed=yes
fi
# The unit alone, then with the fleet drop-in (a unit folder of its own, found through
# SYSTEMD_UNIT_PATH, so that nothing is installed for it).
units=$(mktemp -d)
trap 'rm -rf "$units"; [[ $installed == yes ]] && rm -f /usr/local/bin/augerino' EXIT
cp "$unit" "$units/augerino.service"
check() {
  local what=$1
  verify=$(cd "$units" && SYSTEMD_UNIT_PATH="$units:" systemd-analyze verify augerino.service 2>&1 || true)
  if [[ -n $verify ]]; then echo "systemd-analyze verify ($what) complained:"; echo "$verify"; exit 1; fi
  echo "systemd-analyze verify ($what): no complaints"
  security=$(cd "$units" && SYSTEMD_UNIT_PATH="$units:" systemd-analyze security --offline=yes augerino.service 2>&1 | grep "Overall exposure level")
  echo "systemd-analyze security ($what): $security"
  level=$(sed -E 's/.*: ([0-9.]+) .*/\1/' <<<"$security")
  awk -v l="$level" 'BEGIN { exit !(l <= 2.0) }' || { echo "error: exposure $level is above 2.0" >&2; exit 1; }
}
check "the unit"
mkdir "$units/augerino.service.d"
cp "$here/augerino-fleet.conf" "$units/augerino.service.d/fleet.conf"
check "with the fleet drop-in"
