#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Socket activation as the user manager would do it: systemd-socket-activate
# listens, starts uringd on the first connection and passes the socket
# (LISTEN_FDS). A liburing program run under uringd-run must then be served
# through that socket: its ring is a memfd, and uringd-run must not have
# started a private daemon of its own.
# Usage: socket-activation.sh URINGD UURINGD_RUN PROGRAM [ARGS...]
set -euo pipefail

command -v systemd-socket-activate >/dev/null || { echo "systemd-socket-activate missing: skip"; exit 77; }
uringd=$1 uringd_run=$2
shift 2

dir=$(mktemp -d)
activator=
cleanup() {
        if [ -n "$activator" ]; then
                kill "$activator" 2>/dev/null || true
                wait "$activator" 2>/dev/null || true
        fi
        rm -rf "$dir"
}
trap cleanup EXIT

sock=$dir/socket
systemd-socket-activate --seqpacket -l "$sock" "$uringd" --log-level debug >"$dir/daemon.log" 2>&1 &
activator=$!
for _ in $(seq 100); do [ -S "$sock" ] && break; sleep 0.05; done
[ -S "$sock" ] || { echo "activator did not create $sock"; exit 1; }

URINGD_EXPECT=uringd "$uringd_run" --socket "$sock" -- "$@"
status=$?

# The activator execs into uringd, so the daemon pid is the activator's.
grep -q "passed socket\|Using the socket passed" "$dir/daemon.log" || {
        echo "uringd did not take the passed socket:"; cat "$dir/daemon.log"; exit 1; }
grep -q "Serving io_uring for pid" "$dir/daemon.log" || {
        echo "uringd served nobody:"; cat "$dir/daemon.log"; exit 1; }
exit $status
