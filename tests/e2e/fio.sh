#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# fio.sh MODE [PROBE_PROGRAM]
#
# fio --ioengine=io_uring, 4k random read/write with crc32c verification on a
# 64 MiB file on the root file system, run under uringd-run with a private
# daemon. MODE: plain, fixedbufs, registerfiles, both (fixedbufs and
# registerfiles), or disabled: "both" with kernel.io_uring_disabled=2 (root
# only, else skip), which the kernel's io_uring cannot serve at all; sqpoll;
# or trap: "both" inside a container's profile in miniature ($URINGD_DENY
# eperm: ERRNO for io_uring), which only uringd's trap mode can serve.
#
# Passes when fio exits 0, its JSON shows no error, every written block was
# verified (fio --debug=verify), and the rings fio used were uringd's memfds,
# never the kernel's io_uring: the fds of the fio processes are watched while
# the job runs. With PROBE_PROGRAM (an e2e program), "disabled" also checks
# that the kernel refuses it and uringd serves it.
# Exit: 0 pass, 1 fail, 77 skip.
#
# Environment: URINGD_RUN, URINGD_DENY (tests/deny, for trap), URINGD_TEST_TMPDIR (default /var/tmp),
# URINGD_TEST_TIMEOUT (seconds for fio, default 150).

set -uo pipefail

mode=${1:-}
probe=${2:-}
case $mode in
plain) extra=() ;;
fixedbufs) extra=(--fixedbufs) ;;
registerfiles) extra=(--registerfiles) ;;
both | disabled | trap) extra=(--fixedbufs --registerfiles) ;;
sqpoll) extra=(--sqthread_poll=1) ;;
*)
        echo "usage: $0 plain|fixedbufs|registerfiles|both|disabled|sqpoll|trap [PROBE_PROGRAM]" >&2
        exit 1
        ;;
esac

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
run=${URINGD_RUN:-$here/../../build/tools/uringd-run}
limit=${URINGD_TEST_TIMEOUT:-150}
base=${URINGD_TEST_TMPDIR:-/var/tmp}
source "$here/sysctl.sh"

command -v fio >/dev/null || { echo "SKIP: fio is not installed"; exit 77; }
wrap=()
if [ "$mode" = trap ]; then
        [ -x "${URINGD_DENY:-}" ] || { echo "FAIL: trap mode needs \$URINGD_DENY (tests/deny)"; exit 1; }
        wrap=("$URINGD_DENY" eperm)
fi
[ -x "$run" ] || { echo "FAIL: uringd-run not found at $run"; exit 1; }

work=
runner=
restore() {
        # Stop fio first if it is still running (a signal got us here).
        if [ -n "$runner" ] && kill -0 "$runner" 2>/dev/null; then
                kill -TERM "$runner" 2>/dev/null
                wait "$runner" 2>/dev/null
        fi
        # Runs on every exit path: put the sysctl back first.
        io_uring_disabled_restore
        [ -n "$work" ] && rm -rf "$work"
        return 0
}
trap restore EXIT
trap 'exit 129' HUP
trap 'exit 130' INT
trap 'exit 131' QUIT
trap 'exit 143' TERM

work=$(mktemp -d "$base/uringd-fio.XXXXXX") || { echo "FAIL: mktemp under $base"; exit 1; }
mkdir "$work/run"

if [ "$mode" = disabled ]; then
        if [ "$(id -u)" != 0 ]; then
                echo "SKIP: kernel.io_uring_disabled needs root"
                exit 77
        fi
        if [ ! -w "$io_uring_sysctl" ]; then
                echo "SKIP: $io_uring_sysctl is missing or read-only"
                exit 77
        fi
        io_uring_disabled_set 2 || exit 1

        if [ -n "$probe" ]; then
                # The kernel refuses: the program skips (setup -EPERM)...
                URINGD_EXPECT=kernel timeout 60 "$probe" >"$work/kprobe.out" 2>&1 </dev/null
                rc=$?
                if [ "$rc" != 77 ]; then
                        echo "FAIL: with io_uring disabled, $probe on the kernel exited $rc (wanted 77: setup refused)"
                        cat "$work/kprobe.out"
                        exit 1
                fi
                # ...uringd serves.
                URINGD_EXPECT=uringd URINGD_SOCKET="$work/run/probe-socket" \
                        timeout 60 "$run" -- "$probe" >"$work/uprobe.out" 2>&1 </dev/null
                rc=$?
                if [ "$rc" != 0 ]; then
                        echo "FAIL: with io_uring disabled, $probe under uringd-run exited $rc"
                        cat "$work/uprobe.out"
                        exit 1
                fi
                echo "kernel io_uring refused, uringd served $(basename "$probe")"
        fi
fi

file=$work/fio.data
args=(--name="uringd-$mode" --filename="$file" --ioengine=io_uring --rw=randrw --bs=4k --size=64M
        --iodepth=16 --verify=crc32c --verify_fatal=1 --do_verify=1 --invalidate=0 --runtime=60
        --output-format=json --output="$work/fio.json" --debug=verify "${extra[@]}")
echo "fio ${args[*]}"

# fio in the background; meanwhile note what kind of ring fd each fio
# process holds (not the daemon's own fds: only processes named fio).
URINGD_SOCKET="$work/run/socket" timeout -k 5 "$limit" "${wrap[@]}" "$run" -- fio "${args[@]}" \
        >"$work/fio.out" 2>"$work/fio.err" </dev/null &
runner=$!

descendants() { # pid: all its descendants, one per line
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
                        /memfd:uringd*) echo "uringd $t" >>"$work/ringfds" ;;
                        "anon_inode:[io_uring]") echo "kernel $t" >>"$work/ringfds" ;;
                        esac
                done
        done
        sleep 0.05
done
wait "$runner"
rc=$?

fail=0
if [ "$rc" != 0 ]; then
        case $rc in 124 | 137) echo "FAIL: fio timed out after ${limit}s" ;; *) echo "FAIL: fio exited $rc" ;; esac
        fail=1
fi
echo "---- fio stderr:"
cat "$work/fio.err"

if [ ! -s "$work/fio.json" ]; then
        echo "FAIL: fio wrote no JSON"
        exit 1
fi
# --debug=verify lines share the output file with the JSON (and the last
# of them may be cut off or glued to its first "{"): find the object by
# its first key, and count the verify lines loosely.
summary=$(python3 - "$work/fio.json" <<'PY'
import json, sys
s = open(sys.argv[1], errors="replace").read()
start = s.rindex("{", 0, s.index('"fio version"'))
d, _ = json.JSONDecoder().raw_decode(s[start:])
errs = sum(j["error"] for j in d["jobs"])
r = sum(j["read"]["total_ios"] for j in d["jobs"])
w = sum(j["write"]["total_ios"] for j in d["jobs"])
print(errs, r, w, s.count("crc32c verify"))
PY
) || { echo "FAIL: cannot parse fio's JSON"; tail -50 "$work/fio.json"; exit 1; }
read -r errors reads writes verified <<<"$summary"
echo "fio: error=$errors reads=$reads writes=$writes blocks verified=$verified"

if [ "$errors" != 0 ]; then
        echo "FAIL: fio reports error $errors"
        fail=1
fi
if [ "$writes" -le 0 ] || [ "$reads" -le 0 ]; then
        echo "FAIL: fio did no I/O"
        fail=1
fi
# fio's debug log drops its last lines: half of the writes is plenty of proof.
if [ "$verified" -le 0 ] || [ $((verified * 2)) -lt "$writes" ]; then
        echo "FAIL: only $verified blocks verified for $writes writes"
        fail=1
fi
# Words only: the --debug=verify lines print io_u addresses, and a hex
# address can hold "bad" (0x5653bfbbad80).
problems='verify.*\<(bad|fail|mismatch)'
if grep -qiE "$problems" "$work/fio.json" "$work/fio.err"; then
        echo "FAIL: verification problems:"
        grep -iE "$problems" "$work/fio.json" "$work/fio.err" | head -20
        fail=1
fi

uringd_rings=$(grep -c '^uringd' "$work/ringfds")
kernel_rings=$(grep -c '^kernel' "$work/ringfds")
echo "ring fds seen in fio: uringd memfd $uringd_rings times, kernel io_uring $kernel_rings times"
if [ "$kernel_rings" != 0 ]; then
        echo "FAIL: fio used the kernel's io_uring"
        fail=1
fi
if [ "$uringd_rings" = 0 ]; then
        echo "FAIL: no uringd ring seen in fio's fds"
        fail=1
fi

if [ "$fail" != 0 ]; then
        echo "---- fio output (tail):"
        cat "$work/fio.out"
        grep -v "^verify" "$work/fio.json" | head -30
        exit 1
fi
echo "PASS: fio $mode under uringd, $verified blocks verified"
exit 0
