#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# disabled.sh COMPARE_SH TEST...   (each TEST: "name program [args...]")
#
# The end-to-end programs with kernel.io_uring_disabled=2, in notify mode:
# each runs on the kernel first (while it still serves io_uring) and its
# result is kept; then the sysctl is set to 2 and each runs under uringd and
# is compared with the kept result (compare.sh). The sysctl is put back on
# every exit path. Root only, else skip. Names in $URINGD_KNOWN_DIFF (space
# separated) must fail, as in the e2e suite.
# Exit: 0 all as expected, 1 else, 77 skip.

set -uo pipefail

compare=$1
shift
source "$(dirname "${BASH_SOURCE[0]}")/sysctl.sh"

if [ "$(id -u)" != 0 ] || [ ! -w "$io_uring_sysctl" ]; then
        echo "SKIP: setting kernel.io_uring_disabled needs root and a writable $io_uring_sysctl"
        exit 77
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/uringd-disabled.XXXXXX") || exit 1
restore() {
        io_uring_disabled_restore
        rm -rf "$work"
}
trap restore EXIT
trap 'exit 129' HUP
trap 'exit 130' INT
trap 'exit 143' TERM

echo "== the kernel's results, io_uring enabled"
for t in "$@"; do
        read -r -a words <<<"$t"
        URINGD_TEST_KERNEL_SAVE="$work/${words[0]}" bash "$compare" "${words[@]:1}" >/dev/null 2>&1 ||
                { echo "FAIL: kernel run of ${words[0]}"; exit 1; }
done

io_uring_disabled_set 2 || exit 1
echo "== uringd in notify mode"

pass=0 fail=0 skip=0
for t in "$@"; do
        read -r -a words <<<"$t"
        name=${words[0]}
        URINGD_TEST_MODE=notify URINGD_TEST_KERNEL_FROM="$work/$name" bash "$compare" "${words[@]:1}" \
                >"$work/$name.log" 2>&1
        rc=$?
        known=no
        case " ${URINGD_KNOWN_DIFF:-} " in *" $name "*) known=yes ;; esac
        if [ "$rc" = 77 ]; then
                echo "skip  $name"
                skip=$((skip + 1))
        elif { [ "$rc" = 0 ] && [ $known = no ]; } || { [ "$rc" != 0 ] && [ $known = yes ]; }; then
                echo "ok    $name$([ $known = yes ] && echo ' (known difference: fails as expected)')"
                pass=$((pass + 1))
        else
                echo "FAIL  $name (exit $rc$([ $known = yes ] && echo ', a known difference passed'))"
                cat "$work/$name.log"
                fail=$((fail + 1))
        fi
done
echo "$pass as expected, $fail failed, $skip skipped"
[ "$fail" = 0 ]
