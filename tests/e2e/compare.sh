#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# compare.sh PROG [ARGS...]
#
# Runs PROG on the kernel's io_uring (URINGD_EXPECT=kernel) and under
# uringd-run (URINGD_EXPECT=uringd, URINGD_SOCKET at a fresh path where no
# daemon listens, so that uringd-run starts a private daemon), each with a
# timeout, and diffs the two stdouts.
# Exit: 0 both passed with identical output, 77 either run skipped, 1 else.
#
# Environment:
#   URINGD_RUN           uringd-run to use (default: build/tools/uringd-run
#                        relative to the repository)
#   URINGD_TEST_TIMEOUT  seconds per run (default 60)
#   URINGD_TEST_TMPDIR   passed on to PROG: its scratch files go there
#   URINGD_TEST_KEEP     set: keep the work directory for inspection
#   URINGD_TEST_WRAP     a command line the uringd run starts under (not the
#                        kernel's), e.g. "deny eperm": a container's profile
#   URINGD_TEST_MODE     passed to uringd-run --mode (auto, notify, trap)
#   URINGD_TEST_KERNEL_SAVE=DIR  run on the kernel only and keep its result in
#                        DIR (for a later run where the kernel cannot serve)
#   URINGD_TEST_KERNEL_FROM=DIR  take the kernel's result from DIR, run uringd

set -uo pipefail

if [ $# -lt 1 ]; then
        echo "usage: $0 PROG [ARGS...]" >&2
        exit 1
fi

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
run=${URINGD_RUN:-$here/../../build/tools/uringd-run}
limit=${URINGD_TEST_TIMEOUT:-60}
name=$(basename "$1")

if [ ! -x "$1" ]; then
        echo "compare.sh: $1 is not an executable" >&2
        exit 1
fi
if [ ! -x "$run" ]; then
        echo "compare.sh: uringd-run not found at $run (build it, or set URINGD_RUN)" >&2
        exit 1
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/uringd-compare.XXXXXX")
cleanup() {
        if [ -n "${URINGD_TEST_KEEP:-}" ]; then
                echo "compare.sh: kept $work" >&2
        else
                rm -rf "$work"
        fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# timeout(1) sends TERM, then KILL 5 s later; 124/137 mean it fired.
run_one() { # label, then the command
        local label=$1
        shift
        timeout -k 5 "$limit" "$@" >"$work/$label.out" 2>"$work/$label.err" </dev/null
        local rc=$?
        echo "$rc" >"$work/$label.rc"
        return 0
}

status_word() {
        case $1 in
        0) echo pass ;;
        77) echo skip ;;
        124 | 137) echo "timeout after ${limit}s" ;;
        *) echo "fail (exit $1)" ;;
        esac
}

show_run() { # label
        local label=$1
        echo "---- $label: $(status_word "$(cat "$work/$label.rc")") ----"
        echo "-- stdout:"
        cat "$work/$label.out"
        echo "-- stderr:"
        cat "$work/$label.err"
}

if [ -n "${URINGD_TEST_KERNEL_FROM:-}" ]; then
        for f in out err rc; do
                cp "$URINGD_TEST_KERNEL_FROM/kernel.$f" "$work/kernel.$f" ||
                        { echo "FAIL: no saved kernel result in $URINGD_TEST_KERNEL_FROM"; exit 1; }
        done
else
        URINGD_EXPECT=kernel run_one kernel env -u LD_PRELOAD -u URINGD_DAEMON_PID "$@"
fi
if [ -n "${URINGD_TEST_KERNEL_SAVE:-}" ]; then
        mkdir -p "$URINGD_TEST_KERNEL_SAVE" &&
                cp "$work/kernel.out" "$work/kernel.err" "$work/kernel.rc" "$URINGD_TEST_KERNEL_SAVE/"
        exit $?
fi

# A socket path that does not exist yet, in a directory that does.
mkdir -p "$work/run"
# shellcheck disable=SC2086 # the wrapper is a command line: split it
URINGD_EXPECT=uringd URINGD_SOCKET="$work/run/socket" run_one uringd ${URINGD_TEST_WRAP:-} \
        "$run" ${URINGD_TEST_MODE:+--mode="$URINGD_TEST_MODE"} -- "$@"

krc=$(cat "$work/kernel.rc")
urc=$(cat "$work/uringd.rc")
echo "$name: kernel $(status_word "$krc"), uringd $(status_word "$urc")"

if [ "$krc" != 0 ] && [ "$krc" != 77 ]; then
        echo "FAIL: $name failed on the kernel: the test itself is broken here"
        show_run kernel
        exit 1
fi
if [ "$urc" != 0 ] && [ "$urc" != 77 ]; then
        echo "FAIL: $name failed under uringd"
        show_run uringd
        if [ "$krc" = 0 ]; then
                echo "---- diff kernel uringd ----"
                diff -u --label kernel --label uringd "$work/kernel.out" "$work/uringd.out"
        fi
        exit 1
fi
if [ "$krc" = 77 ] || [ "$urc" = 77 ]; then
        echo "SKIP: $name skipped ($( [ "$krc" = 77 ] && echo kernel)$( [ "$urc" = 77 ] && echo ' uringd'))"
        cat "$work/kernel.err" "$work/uringd.err"
        exit 77
fi

if ! diff -u --label kernel --label uringd "$work/kernel.out" "$work/uringd.out" >"$work/diff"; then
        echo "FAIL: $name: output under uringd differs from the kernel's"
        cat "$work/diff"
        echo "---- uringd stderr ----"
        cat "$work/uringd.err"
        exit 1
fi
if [ ! -s "$work/kernel.out" ]; then
        echo "FAIL: $name printed nothing: nothing was compared"
        exit 1
fi

echo "PASS: $name: identical output ($(wc -l <"$work/kernel.out") lines)"
cat "$work/kernel.out"
exit 0
