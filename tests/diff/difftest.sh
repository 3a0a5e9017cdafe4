#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# difftest.sh DIFFTEST SEED SEEDS [difftest args...]
#
# Runs the differential tester for seeds SEED..SEED+SEEDS-1:
#   1. twice on the kernel's io_uring: the transcripts must be identical, else
#      the generator is not deterministic (a bug of the test, shown as a diff);
#   2. under uringd-run with a private daemon (URINGD_SOCKET at a fresh path);
# and diffs the uringd transcript against the kernel's. On a mismatch it
# prints the seed, the first differing batch of both transcripts and a
# command line that reproduces that seed.
# Exit: 0 identical, 77 kernel io_uring unavailable, 1 else.
#
# Environment:
#   URINGD_RUN           uringd-run (default: build/tools/uringd-run)
#   URINGD_TEST_TIMEOUT  seconds per run (default 120)
#   URINGD_TEST_TMPDIR   scratch files of the program go there
#   URINGD_TEST_KEEP     set: keep the work directory

set -uo pipefail

if [ $# -lt 3 ]; then
        echo "usage: $0 DIFFTEST SEED SEEDS [difftest args...]" >&2
        exit 1
fi
prog=$1 seed=$2 seeds=$3
shift 3
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
run=${URINGD_RUN:-$here/../../build/tools/uringd-run}
limit=${URINGD_TEST_TIMEOUT:-120}

for f in "$prog" "$run"; do
        if [ ! -x "$f" ]; then
                echo "difftest.sh: $f is not an executable (build first, or set URINGD_RUN)" >&2
                exit 1
        fi
done

work=$(mktemp -d "${TMPDIR:-/tmp}/uringd-difftest.XXXXXX")
cleanup() {
        if [ -n "${URINGD_TEST_KEEP:-}" ]; then
                echo "difftest.sh: kept $work" >&2
        else
                rm -rf "$work"
        fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

args=(--seed "$seed" --seeds "$seeds" "$@")

run_kernel() { # label
        local rc try
        # kernel.io_uring_disabled may be flipped for a moment by other
        # tests on the machine: retry a skip a few times
        for try in 1 2 3 4 5 6 7 8 9 10; do
                URINGD_EXPECT=kernel timeout -k 5 "$limit" env -u LD_PRELOAD -u URINGD_DAEMON_PID \
                        "$prog" "${args[@]}" >"$work/$1.out" 2>"$work/$1.err" </dev/null
                rc=$?
                [ "$rc" != 77 ] && break
                sleep 2
        done
        return $rc
}

# The batch header line of the first line where $1 and $2 differ, and that
# batch of both files.
first_diff() { # a b labela labelb
        local n
        n=$(cmp "$1" "$2" 2>/dev/null | sed -n 's/.* line \([0-9]*\).*/\1/p')
        [ -z "$n" ] && n=$(( $(wc -l <"$1") + 1 ))
        local s b
        s=$(head -n "$n" "$1" | grep '^seed ' | tail -n 1)
        b=$(head -n "$n" "$1" | grep -E '^batch [0-9]+:' | tail -n 1 | sed 's/:.*//')
        echo "first difference at line $n: ${s%% flags*}, ${b:-before the first batch}"
        for f in "$1:$3" "$2:$4"; do
                echo "---- $b of ${f##*:} ----"
                awk -v s="${s%% flags*}" -v b="$b:" '
                        $0 ~ "^seed " { ins = (index($0, s " ") == 1 || $0 == s) }
                        ins && $1 == "batch" { inb = ($1 " " $2 == b) }
                        ins && inb' "${f%:*}"
        done
        firstseed=$(echo "$s" | awk '{print $2}')
}

firstseed=$seed
run_kernel kernel1
rc=$?
if [ "$rc" != 0 ]; then
        if [ "$rc" = 77 ]; then
                echo "SKIP: kernel io_uring unavailable"
                cat "$work/kernel1.err"
                exit 77
        fi
        echo "FAIL: difftest failed on the kernel (exit $rc): the test itself is broken here"
        tail -n 40 "$work/kernel1.out"
        cat "$work/kernel1.err"
        exit 1
fi
if [ -s "$work/kernel1.err" ]; then
        echo "FAIL: on the kernel, results differ from the generator's model (a generator bug):"
        cat "$work/kernel1.err"
        exit 1
fi
run_kernel kernel2
rc=$?
if [ "$rc" = 77 ]; then
        echo "SKIP: kernel io_uring unavailable (second run)"
        cat "$work/kernel2.err"
        exit 77
fi
if [ "$rc" != 0 ] || ! cmp -s "$work/kernel1.out" "$work/kernel2.out"; then
        echo "FAIL: two runs on the kernel differ: the generator is not deterministic"
        first_diff "$work/kernel1.out" "$work/kernel2.out" kernel-run-1 kernel-run-2
        cat "$work/kernel2.err"
        exit 1
fi

mkdir -p "$work/run"
URINGD_EXPECT=uringd URINGD_SOCKET="$work/run/socket" timeout -k 5 "$limit" \
        "$run" -- "$prog" "${args[@]}" >"$work/uringd.out" 2>"$work/uringd.err" </dev/null
urc=$?

if [ "$urc" = 0 ] && cmp -s "$work/kernel1.out" "$work/uringd.out"; then
        echo "PASS: seeds $seed..$((seed + seeds - 1)): uringd identical to the kernel ($(grep -c '^batch ' "$work/kernel1.out") batches, $(grep -c '^ cqe ' "$work/kernel1.out") CQEs)"
        exit 0
fi

echo "FAIL: uringd differs from the kernel (uringd run exit $urc)"
first_diff "$work/kernel1.out" "$work/uringd.out" kernel uringd
echo "---- uringd stderr ----"
head -n 40 "$work/uringd.err"
echo "---- reproduce ----"
extra=""
[ $# -gt 0 ] && extra=$(printf ' %q' "$@")
echo "bash $here/difftest.sh $prog $firstseed 1$extra"
echo "(one run: URINGD_EXPECT=uringd URINGD_SOCKET=\$(mktemp -u) $run -- $prog --seed $firstseed$extra;"
echo " on the kernel: URINGD_EXPECT=kernel $prog --seed $firstseed$extra)"
exit 1
