#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# The main job: build uringd, then run fio's io_uring engine through it
#   uringd-run -- fio --ioengine=io_uring --rw=randrw --bs=4k --size=256M
#                     --iodepth=32 --verify=crc32c ...
# on a file under /var/tmp, and show that the rings were served by uringd:
# first a small e2e program asserts its ring is a uringd memfd, then fio's
# own ring fds are watched while it runs.

set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
build=build

bash scripts/deps.sh
if [ -f "$build/meson-private/coredata.dat" ]; then
        meson setup --reconfigure "$build" >/dev/null || meson setup --wipe "$build"
else
        meson setup "$build"
fi
meson compile -C "$build"

run=$build/tools/uringd-run
work=$(mktemp -d /var/tmp/uringd-demo.XXXXXX)
runner=
cleanup() {
        if [ -n "$runner" ] && kill -0 "$runner" 2>/dev/null; then
                kill -TERM "$runner" 2>/dev/null || true
                wait "$runner" 2>/dev/null || true
        fi
        rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
mkdir "$work/run"
# A socket where nothing listens unless the user runs a daemon: then
# uringd-run starts a private one for each command.
export URINGD_SOCKET=${URINGD_SOCKET:-$work/run/socket}

# 1. A ring under uringd-run is a uringd memfd (the program fails otherwise).
URINGD_EXPECT=uringd "$run" -- "$build/tests/e2e-nop" >"$work/nop.out"
echo "uringd: e2e-nop's ring is a uringd memfd: served by uringd"

# 2. fio, watching what its ring fds are.
echo "uringd-run -- fio --name=uringd-demo --ioengine=io_uring --rw=randrw --bs=4k --size=256M --iodepth=32 --verify=crc32c"
"$run" -- fio --name=uringd-demo --filename="$work/uringd-demo.data" \
        --ioengine=io_uring --rw=randrw --bs=4k --size=256M --iodepth=32 \
        --verify=crc32c --verify_fatal=1 --verify_state_save=0 --invalidate=0 --runtime=600 \
        </dev/null &
runner=$!

descendants() { # pid: its descendants, one per line
        ps -eo pid=,ppid= | awk -v root="$1" '
                { parent[$1] = $2 }
                END {
                        found[root] = 1
                        do {
                                more = 0
                                for (p in parent)
                                        if (!(p in found) && (parent[p] in found)) { found[p] = 1; more = 1 }
                        } while (more)
                        for (p in found) if (p != root) print p
                }'
}

: >"$work/ringfds"
while kill -0 "$runner" 2>/dev/null; do
        for p in $runner $(descendants "$runner"); do
                [ "$(cat "/proc/$p/comm" 2>/dev/null)" = fio ] || continue
                for l in /proc/"$p"/fd/*; do
                        t=$(readlink "$l" 2>/dev/null) || continue
                        case $t in
                        /memfd:uringd*) echo uringd >>"$work/ringfds" ;;
                        "anon_inode:[io_uring]") echo kernel >>"$work/ringfds" ;;
                        esac
                done
        done
        sleep 0.1
done
set +e
wait "$runner"
rc=$?
set -e
runner=

u=$(grep -c uringd "$work/ringfds" || true)
k=$(grep -c kernel "$work/ringfds" || true)
echo "fio exit status: $rc"
echo "fio's ring fds seen: uringd memfd $u times, kernel io_uring $k times"
if [ "$rc" -ne 0 ]; then
        echo "FAIL: fio failed under uringd"
        exit 1
fi
if [ "$u" -eq 0 ] || [ "$k" -ne 0 ]; then
        echo "FAIL: fio's rings were not (only) uringd's"
        exit 1
fi
echo "uringd: fio randrw 4k QD32 256M with crc32c verification passed, its rings served by uringd"
