#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# liburing 2.3's own test suite, on the kernel and under uringd.
#
#   liburing.sh build [TEST...]   fetch (apt-get source liburing) and build
#                                 the tests of baseline.txt, or the TESTs
#   liburing.sh run TEST          run TEST on the kernel and under uringd-run,
#                                 judge the result against baseline.txt
#   liburing.sh --update [TEST...]
#                                 re-run (uringd 3 times, to spot flakes) and
#                                 rewrite baseline.txt and docs/LIBURING.md;
#                                 all tests of baseline.txt by default
#   liburing.sh doc               rewrite docs/LIBURING.md from baseline.txt
#                                 (after editing a note by hand)
#
# The source and the built tests are cached in $LIBURING_DIR (default
# build/liburing); building is serialised with flock, so that parallel
# `meson test` runs share one build. The suite's static liburing.a (2.3, the
# library the tests were written for) is linked into every test.
#
# Each run happens in a scratch directory (the tests create files in their
# cwd), under `timeout`. Under uringd, a fresh URINGD_SOCKET path makes
# uringd-run start a private daemon; `served` runs the test only when the
# daemon does serve the process, and a wrapper records the daemon's own exit
# status, so that a daemon crash shows as one.
#
# Results: pass (exit 0), skip (77, T_EXIT_SKIP), timeout, crash (the test
# or the daemon killed by a signal), fail (anything else).
#
# baseline.txt, one line per test:
#   TEST kernel=<pass|fail|skip> uringd=<pass|fail|skip|timeout|crash> verdict=V  # note
# with V one of
#   pass        uringd passes: anything else is a regression (exit 1)
#   known-fail  the kernel passes, uringd does not (yet): exit 77
#   flaky       uringd passed some runs, not all: exit 0 or 77
#   kernel-skip the kernel does not pass it here (skip, fail or timeout):
#               nothing to compare; the kernel run is skipped, exit 0 or 77
# `run` exits 0 when uringd passes, 77 (skip) when the verdict allows what
# it did, 1 on a regression. A test with verdict pass that fails under
# uringd while it now fails on the kernel too is a skip: the environment
# changed, not uringd.
#
# Environment:
#   LIBURING_DIR      cache directory (default: <repo>/build/liburing)
#   LIBURING_TIMEOUT  seconds per run (default 60, as liburing's runtests.sh)
#   LIBURING_JOBS     tests run at once by --update (default 1)
#   LIBURING_KEEP     set: keep each run's scratch directory and logs
#   LIBURING_FRESH_NOTES
#                     set: --update writes new notes (the first line the
#                     failing run printed); otherwise a test's note, which
#                     may be written by hand in baseline.txt, stays while
#                     its kernel/uringd/verdict stay the same
#   URINGD_RUN        uringd-run (default: <repo>/build/tools/uringd-run)
#   URINGD_DAEMON     the daemon (default: next to uringd-run, ../daemon/uringd)
#   URINGD_TEST_WRAP  a command line the uringd run starts under (e.g. tests/deny
#                     eperm: a container profile, so that trap mode serves)
#   URINGD_TEST_MODE  uringd-run --mode
#   LIBURING_SERVED   the `served` helper (default: <repo>/build/tests/liburing/liburing-served)

set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
baseline=$here/baseline.txt
doc=$repo/docs/LIBURING.md

cache=${LIBURING_DIR:-$repo/build/liburing}
limit=${LIBURING_TIMEOUT:-60}
jobs=${LIBURING_JOBS:-1}
run=${URINGD_RUN:-$repo/build/tools/uringd-run}
daemon=${URINGD_DAEMON:-$(dirname "$run")/../daemon/uringd}
served=${LIBURING_SERVED:-$repo/build/tests/liburing/liburing-served}

version=2.3
src=$cache/liburing-$version
uringd_runs=3

die() {
        echo "liburing.sh: $*" >&2
        exit 1
}

# ---- build -----------------------------------------------------------------

baseline_tests() {
        sed -e 's/#.*//' "$baseline" | awk 'NF { print $1 }'
}

# Under the lock: fetch and unpack the source, configure, build liburing.a.
fetch_and_configure() {
        local tmp dir
        if [ ! -f "$src/.configured" ]; then
                rm -rf "$src" "$cache"/fetch.*
                tmp=$(mktemp -d "$cache/fetch.XXXXXX") || return 1
                echo "liburing.sh: apt-get source liburing into $cache"
                # As root apt warns that _apt cannot read the directory: harmless.
                (cd "$tmp" && apt-get source -q liburing) >"$cache/fetch.log" 2>&1 || {
                        cat "$cache/fetch.log" >&2
                        echo "liburing.sh: apt-get source liburing failed: is there a deb-src entry (bash scripts/deps.sh)?" >&2
                        rm -rf "$tmp"
                        return 1
                }
                dir=$(find "$tmp" -mindepth 1 -maxdepth 1 -type d -name 'liburing-*' | head -n 1)
                if [ "$(basename "$dir")" != "liburing-$version" ]; then
                        echo "liburing.sh: apt-get source gave ${dir:-nothing}, not liburing-$version: baseline.txt is for $version" >&2
                        rm -rf "$tmp"
                        return 1
                fi
                mv "$dir" "$src" && rm -rf "$tmp" || return 1
                (cd "$src" && ./configure && make -C src -j2 liburing.a) >"$cache/configure.log" 2>&1 || {
                        cat "$cache/configure.log" >&2
                        echo "liburing.sh: configuring liburing $version failed" >&2
                        return 1
                }
                touch "$src/.configured"
        fi
        # The daemon wrapper: LISTEN_PID must name the daemon, so it runs in a
        # subshell that execs it; TERM from uringd-run is passed on.
        cat >"$cache/daemon-wrapper.new" <<'EOF'
#!/bin/bash
# Generated by tests/liburing/liburing.sh: runs uringd and writes its exit
# status (128+N for signal N) to $LIBURING_DAEMON_STATUS.
( export LISTEN_PID=$BASHPID; exec "$LIBURING_REAL_DAEMON" "$@" ) &
pid=$!
trap 'kill -TERM $pid 2>/dev/null' TERM INT HUP
while :; do
        wait $pid
        rc=$?
        kill -0 $pid 2>/dev/null || break
done
[ -z "${LIBURING_DAEMON_STATUS:-}" ] || echo $rc >"$LIBURING_DAEMON_STATUS"
exit $rc
EOF
        if cmp -s "$cache/daemon-wrapper.new" "$cache/daemon-wrapper"; then
                rm -f "$cache/daemon-wrapper.new"
        else
                chmod +x "$cache/daemon-wrapper.new" && mv "$cache/daemon-wrapper.new" "$cache/daemon-wrapper"
        fi
}

# build TEST...: every TEST built, under one lock for all callers.
build() {
        local t targets=()
        mkdir -p "$cache" || return 1
        for t in "$@"; do
                targets+=("$t.t")
        done
        (
                flock 9 || exit 1
                fetch_and_configure || exit 1
                # make is quiet when all is built; its own errors go to stderr.
                make -s -C "$src/test" -j2 "${targets[@]}" >"$cache/make.log" 2>&1 || {
                        cat "$cache/make.log" >&2
                        echo "liburing.sh: building ${targets[*]} failed" >&2
                        exit 1
                }
        ) 9>"$cache/.lock"
}

# ---- running ---------------------------------------------------------------

# judge DIR: the result word of the run in DIR; a crash also
# writes what died to DIR/why.
judge() {
        local rc drc=
        rc=$(cat "$1/rc")
        if [ -s "$1/daemon" ]; then
                drc=$(cat "$1/daemon")
                # uringd-run stops its daemon with TERM: that is a clean stop.
                case $drc in
                0 | 143) ;;
                *)
                        if [ "$drc" -gt 128 ]; then
                                echo "the daemon was killed by signal $((drc - 128)) ($(kill -l "$drc"))" >"$1/why"
                        else
                                echo "the daemon exited with status $drc" >"$1/why"
                        fi
                        echo crash
                        return
                        ;;
                esac
        fi
        case $rc in
        0) echo pass ;;
        77) echo skip ;;
        124 | 137) echo timeout ;;
        # 99: `served` found the process not served by uringd (see err).
        129 | 13[0-9] | 1[4-5][0-9])
                echo "the test was killed by signal $((rc - 128)) ($(kill -l "$rc"))" >"$1/why"
                echo crash
                ;;
        *) echo fail ;;
        esac
}

# run_one DIR kernel|uringd TEST: runs TEST in DIR/, leaves DIR/{out,err,rc}
# (and DIR/daemon, the daemon's exit status) and prints the result word.
run_one() {
        local dir=$1 where=$2 test=$3 prog
        prog=$src/test/$test.t
        mkdir -p "$dir/cwd"
        if [ "$where" = kernel ]; then
                (cd "$dir/cwd" && exec timeout -k 5 "$limit" env -u LD_PRELOAD "$prog") \
                        >"$dir/out" 2>"$dir/err" </dev/null
                echo $? >"$dir/rc"
        else
                mkdir -p "$dir/run"
                (cd "$dir/cwd" && URINGD_SOCKET="$dir/run/socket" \
                        URINGD_DAEMON="$cache/daemon-wrapper" LIBURING_REAL_DAEMON="$daemon" \
                        LIBURING_DAEMON_STATUS="$dir/daemon" \
                        exec timeout -k 5 "$limit" ${URINGD_TEST_WRAP:-} "$run" \
                        ${URINGD_TEST_MODE:+--mode="$URINGD_TEST_MODE"} -- "$served" "$prog") \
                        >"$dir/out" 2>"$dir/err" </dev/null
                echo $? >"$dir/rc"
                # The wrapper writes its status as the daemon stops; a killed
                # uringd-run leaves that to PDEATHSIG: give it a moment.
                for _ in 1 2 3 4 5 6 7 8 9 10; do
                        [ -s "$dir/daemon" ] && break
                        sleep 0.1
                done
        fi
        judge "$dir"
}

# The first line of a run's output that says something, for notes.
first_line() { # dir
        local line
        line=$(cat "$1/err" "$1/out" 2>/dev/null | grep -v '^[[:space:]]*$' | head -n 1)
        line=${line//$src\/test\//}
        printf '%s' "${line:0:160}"
}

show_run() { # label, dir
        echo "---- $1: $(cat "$2/rc") ----"
        echo "-- stdout (last 20 lines):"
        tail -n 20 "$2/out"
        echo "-- stderr (last 40 lines):"
        tail -n 40 "$2/err"
        if [ -s "$2/daemon" ]; then
                echo "-- daemon exit status: $(cat "$2/daemon")"
        fi
        if [ -s "$2/why" ]; then
                echo "-- crash: $(cat "$2/why")"
        fi
}

new_work() {
        mktemp -d "${TMPDIR:-/tmp}/uringd-liburing.XXXXXX"
}

drop_work() {
        if [ -n "${LIBURING_KEEP:-}" ]; then
                echo "liburing.sh: kept $1" >&2
        else
                rm -rf "$1"
        fi
}

check_tools() {
        [ -x "$run" ] || die "uringd-run not found at $run (build it, or set URINGD_RUN)"
        [ -x "$daemon" ] || die "uringd not found at $daemon (set URINGD_DAEMON)"
        [ -x "$served" ] || die "served helper not found at $served (build it, or set LIBURING_SERVED)"
}

baseline_line() { # test
        sed -e 's/#.*//' "$baseline" | awk -v t="$1" '$1 == t'
}

field() { # line, key
        local f
        for f in $1; do
                case $f in
                "$2"=*) echo "${f#*=}"; return ;;
                esac
        done
}

cmd_run() {
        local test=$1 line verdict kbase work k=- u
        line=$(baseline_line "$test")
        [ -n "$line" ] || die "$test is not in $baseline (add it with --update $test)"
        verdict=$(field "$line" verdict)
        kbase=$(field "$line" kernel)
        check_tools
        build "$test" || exit 1

        work=$(new_work) || exit 1
        trap "drop_work '$work'" EXIT
        trap 'exit 130' INT TERM

        # Where the kernel does not pass here, there is nothing to compare
        # with: its run (up to two timeouts) is left out.
        if [ "$verdict" != kernel-skip ]; then
                k=$(run_one "$work/kernel" kernel "$test")
        fi
        u=$(run_one "$work/uringd" uringd "$test")
        echo "$test: kernel $k (baseline $kbase), uringd $u (baseline $(field "$line" uringd)), verdict $verdict"

        if [ "$u" = pass ]; then
                case $verdict in
                pass) ;;
                *) echo "NOTE: $test now passes under uringd: update the baseline (liburing.sh --update $test)" ;;
                esac
                exit 0
        fi
        show_run uringd "$work/uringd"
        case $verdict in
        pass)
                if [ "$k" != pass ]; then
                        echo "SKIP: $test does not pass on the kernel either now ($k): nothing to compare"
                        show_run kernel "$work/kernel"
                        exit 77
                fi
                echo "FAIL: $test regressed under uringd: $u, baseline pass"
                exit 1
                ;;
        known-fail) echo "SKIP: $test: known failure under uringd ($u)" ;;
        flaky) echo "SKIP: $test: flaky under uringd, failed this time ($u)" ;;
        kernel-skip) echo "SKIP: $test: the kernel does not pass it here ($kbase)" ;;
        *) die "$test: unknown verdict '$verdict' in $baseline" ;;
        esac
        exit 77
}

# ---- --update --------------------------------------------------------------

# update_one TEST OUTFILE: writes one baseline line to OUTFILE.
update_one() {
        local test=$1 out=$2 work k kdir u i results=() passes=0 verdict note="" worst="" old
        work=$(new_work) || return 1
        k=$(run_one "$work/kernel" kernel "$test")
        kdir=$work/kernel
        if [ "$k" = fail ]; then
                # One retry: timing-sensitive tests (timeout-new) can miss once.
                k=$(run_one "$work/kernel2" kernel "$test")
                kdir=$work/kernel2
        fi
        for i in $(seq "$uringd_runs"); do
                u=$(run_one "$work/uringd$i" uringd "$test")
                results+=("$u")
                if [ "$u" = pass ]; then
                        passes=$((passes + 1))
                elif [ -z "$worst" ]; then
                        worst=$i
                fi
                # A hang hangs again: do not spend two more timeouts on it.
                [ "$u" = timeout ] && [ $passes = 0 ] && break
        done
        u=${results[0]}
        [ -n "$worst" ] && u=${results[$((worst - 1))]}

        case $k in
        pass)
                if [ $passes = ${#results[@]} ]; then
                        verdict=pass
                elif [ $passes = 0 ]; then
                        verdict=known-fail
                else
                        verdict=flaky
                        note="passed $passes of ${#results[@]} runs; "
                fi
                ;;
        *)
                verdict=kernel-skip
                note="kernel: $k$( [ "$k" = fail ] && printf ' (%s)' "$(first_line "$kdir")"); "
                ;;
        esac
        if [ -n "$worst" ]; then
                case $u in
                timeout) note+="hangs (timeout after ${limit}s)" ;;
                crash) note+="crash: $(cat "$work/uringd$worst/why"): $(first_line "$work/uringd$worst")" ;;
                *) note+="$u: $(first_line "$work/uringd$worst")" ;;
                esac
        fi
        note=${note%; }
        [ "$k" = timeout ] && k=fail
        [ "$k" = crash ] && k=fail
        # A note, maybe written by hand, stays while the result is the same.
        old=$(grep -E "^$test kernel=$k uringd=$u verdict=$verdict +#" "$baseline" | head -n 1)
        if [ -n "$old" ] && [ -z "${LIBURING_FRESH_NOTES:-}" ]; then
                note=${old#*#}
                note=${note# }
        fi
        printf '%s kernel=%s uringd=%s verdict=%s%s\n' "$test" "$k" "$u" "$verdict" \
                "${note:+  # $note}" >"$out"
        echo "$(cat "$out")   [uringd runs: ${results[*]}]" >&2
        drop_work "$work"
}

write_doc() {
        local n_pass n_known n_flaky n_kskip
        n_pass=$(grep -c 'verdict=pass' "$baseline")
        n_known=$(grep -c 'verdict=known-fail' "$baseline")
        n_flaky=$(grep -c 'verdict=flaky' "$baseline")
        n_kskip=$(grep -c 'verdict=kernel-skip' "$baseline")
        {
                cat <<EOF
# liburing's test suite under uringd

Generated by \`tests/liburing/liburing.sh --update\` from
\`tests/liburing/baseline.txt\`: do not edit by hand. The notes (the
failure's first line, or a triage written by hand in baseline.txt and
published with \`liburing.sh doc\`) stay across updates while a test's
results stay the same.

liburing $version's own tests (Debian's source package, \`apt-get source
liburing\`, built against its bundled static liburing.a), each run on the
kernel's io_uring and under \`uringd-run\` with a private daemon, in a
scratch directory, with a ${limit} s timeout per run (as liburing's
\`runtests.sh\`). Under uringd each test ran ${uringd_runs} times (a hang
only once). Kernel: $(uname -r).

\`meson test -C build --suite liburing\` runs each test again and fails
when one whose verdict is *pass* does not pass under uringd (unless it
now fails on the kernel too). Results:
*pass* exit 0, *skip* exit 77 (\`T_EXIT_SKIP\`), *timeout*, *crash* (killed
by a signal, or the daemon died), *fail* anything else. Verdicts:

- **pass**: passes on the kernel and under uringd; a failure is a regression.
- **known-fail**: passes on the kernel, not (yet) under uringd; reported
  as a skip.
- **flaky**: passed some runs under uringd, not all.
- **kernel-skip**: the kernel itself does not pass it here (skip, fail or
  timeout), so there is nothing to compare.

Totals: $n_pass pass, $n_known known-fail, $n_flaky flaky, $n_kskip kernel-skip.

| test | kernel | uringd | verdict | note |
|------|--------|--------|---------|------|
EOF
                awk '/^#/ || !NF { next }
                {
                        note = ""
                        i = index($0, "#")
                        if (i) {
                                note = substr($0, i + 1)
                                sub(/^[ \t]+/, "", note)
                                gsub(/\|/, "\\|", note)
                                $0 = substr($0, 1, i - 1)
                        }
                        k = $2; u = $3; v = $4
                        sub(/^kernel=/, "", k); sub(/^uringd=/, "", u); sub(/^verdict=/, "", v)
                        printf "| %s | %s | %s | %s | %s |\n", $1, k, u, v, note
                }' "$baseline"
                [ ! -f "$here/triage.md" ] || cat "$here/triage.md"
        } >"$doc.new" && mv "$doc.new" "$doc"
}

cmd_update() {
        local tests=("$@") t tmp
        [ ${#tests[@]} -gt 0 ] || mapfile -t tests < <(baseline_tests)
        [ ${#tests[@]} -gt 0 ] || die "no test given and none in $baseline"
        check_tools
        build "${tests[@]}" || exit 1
        for t in "${tests[@]}"; do
                [ -f "$src/test/$t.t" ] || die "no test $t in liburing $version"
        done

        tmp=$(mktemp -d "${TMPDIR:-/tmp}/uringd-liburing-update.XXXXXX") || exit 1
        trap "rm -rf '$tmp'" EXIT
        export -f update_one run_one judge first_line new_work drop_work
        export src limit run daemon served cache uringd_runs baseline
        printf '%s\n' "${tests[@]}" |
                xargs -P "$jobs" -I{} bash -c 'update_one "$1" "$2/$1"' _ {} "$tmp"

        # Merge: updated lines replace old ones, new tests are added; the
        # header comments are kept; sorted by name.
        {
                grep '^#' "$baseline" 2>/dev/null
                {
                        sed -e '/^#/d' -e '/^[[:space:]]*$/d' "$baseline" 2>/dev/null |
                                while read -r t rest; do
                                        [ -f "$tmp/$t" ] || echo "$t $rest"
                                done
                        cat "$tmp"/*
                } | LC_ALL=C sort
        } >"$baseline.new" && mv "$baseline.new" "$baseline"
        write_doc
        echo "liburing.sh: updated $baseline and $doc"
}

case ${1:-} in
build)
        shift
        [ $# -gt 0 ] || set -- $(baseline_tests)
        build "$@" || exit 1
        echo "liburing.sh: liburing $version tests built in $src/test ($# tests)"
        ;;
run)
        [ $# = 2 ] || die "usage: liburing.sh run TEST"
        cmd_run "$2"
        ;;
--update)
        shift
        cmd_update "$@"
        ;;
doc)
        write_doc
        ;;
*)
        sed -n '3,/^$/s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"
        exit 1
        ;;
esac
