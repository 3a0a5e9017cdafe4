#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# systemd-analyze verify on the user units, with ExecStart pointed at the
# uringd binary of this build (verify checks that the binary exists).
# Usage: verify-units.sh SOCKET_UNIT SERVICE_UNIT URINGD_BINARY
set -euo pipefail

command -v systemd-analyze >/dev/null || { echo "systemd-analyze missing: skip"; exit 77; }
socket_unit=$1 service_unit=$2 uringd=$3

dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
cp "$socket_unit" "$dir/uringd.socket"
sed "s|^ExecStart=.*|ExecStart=$uringd|" "$service_unit" >"$dir/uringd.service"

# Type=notify, socket units and hardening options must all parse cleanly:
# any warning systemd-analyze prints counts as a failure.
out=$(cd "$dir" && systemd-analyze verify --man=no "$dir/uringd.socket" "$dir/uringd.service" 2>&1) || {
        echo "$out"
        exit 1
}
if [ -n "$out" ]; then
        echo "systemd-analyze verify printed warnings:"
        echo "$out"
        exit 1
fi
grep -q '^Type=notify$' "$dir/uringd.service"
grep -q '^ListenSequentialPacket=%t/uringd/socket$' "$dir/uringd.socket"
grep -q '^SocketMode=0600$' "$dir/uringd.socket"
echo "units verified"
