#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# wrapper.sh PROGRAM
#
# uringd-run's contract: the exit status is the command's (128+N when a
# signal killed it), URINGD_DAEMON_PID names the serving daemon, a private
# daemon is started when none answers on $URINGD_SOCKET and is gone after
# the run (whatever the command's fate), a daemon that does answer is used
# and left running, stdin/stdout pass through, and the command's rings are
# uringd's (PROGRAM, an e2e program, run with URINGD_EXPECT=uringd).
# Exit: 0 pass, 1 fail.

set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
run=${URINGD_RUN:-$here/../../build/tools/uringd-run}
daemon=${URINGD_DAEMON:-$(dirname "$run")/../daemon/uringd}
probe=${1:?usage: wrapper.sh PROGRAM}

[ -x "$run" ] || { echo "FAIL: uringd-run not found at $run"; exit 1; }

work=$(mktemp -d "${TMPDIR:-/tmp}/uringd-wrapper.XXXXXX")
daemon_pid=
cleanup() {
        if [ -n "$daemon_pid" ]; then
                kill "$daemon_pid" 2>/dev/null
                wait "$daemon_pid" 2>/dev/null
        fi
        rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

failures=0
fail() {
        echo "FAIL: $*"
        failures=$((failures + 1))
}
ok() {
        echo "ok: $*"
}

# A fresh socket path where nothing listens: each run gets a private daemon.
private() {
        URINGD_SOCKET="$work/none/socket" timeout -k 5 60 "$run" "$@" </dev/null
}
mkdir -p "$work/none"

# Wait up to 5 s for a pid to disappear.
gone_within_5s() {
        for _ in $(seq 50); do
                kill -0 "$1" 2>/dev/null || return 0
                sleep 0.1
        done
        return 1
}

# 1. Exit status.
for want in 0 1 3 42 255; do
        private -- sh -c "exit $want"
        got=$?
        [ "$got" = "$want" ] && ok "exit $want passed through" || fail "command exited $want, uringd-run $got"
done
private sh -c 'exit 7'
got=$?
[ "$got" = 7 ] && ok "works without --" || fail "without --: exit $got, wanted 7"

# 2. Killed by a signal: 128 + N, as a shell reports it.
private -- sh -c 'kill -KILL $$'
got=$?
[ "$got" = 137 ] && ok "SIGKILL -> 137" || fail "command killed by SIGKILL: uringd-run exited $got, wanted 137"

# 3. URINGD_DAEMON_PID: set, alive during the run, a uringd, gone afterwards.
private -- sh -c 'echo "$URINGD_DAEMON_PID"; cat /proc/"$URINGD_DAEMON_PID"/comm' >"$work/pid.out"
rc=$?
pid=$(sed -n 1p "$work/pid.out")
comm=$(sed -n 2p "$work/pid.out")
if [ "$rc" != 0 ] || ! [ "$pid" -gt 0 ] 2>/dev/null; then
        fail "URINGD_DAEMON_PID not exported (got '$pid', exit $rc)"
else
        [ "$comm" = uringd ] && ok "URINGD_DAEMON_PID=$pid is a live uringd" ||
                fail "URINGD_DAEMON_PID=$pid is '$comm', not uringd"
        gone_within_5s "$pid" && ok "private daemon stopped after the run" ||
                fail "private daemon $pid still running after uringd-run returned"
fi

# 4. ... also when the command fails or is killed.
for cmd in 'exit 9' 'kill -TERM $$'; do
        private -- sh -c "echo \$URINGD_DAEMON_PID; $cmd" >"$work/pid.out"
        pid=$(head -1 "$work/pid.out")
        if [ -n "$pid" ] && [ "$pid" -gt 0 ] 2>/dev/null; then
                gone_within_5s "$pid" && ok "private daemon stopped after '$cmd'" ||
                        fail "private daemon $pid left running after '$cmd'"
        else
                fail "no URINGD_DAEMON_PID in '$cmd' run"
        fi
done

# 5. stdin and stdout pass through.
out=$(echo "through the pipe" | URINGD_SOCKET="$work/none/socket" timeout 60 "$run" -- cat)
[ "$out" = "through the pipe" ] && ok "stdin/stdout pass through" || fail "cat under uringd-run gave '$out'"

# 6. The command is served by uringd.
if URINGD_EXPECT=uringd private -- "$probe" >"$work/probe.out" 2>&1; then
        ok "$(basename "$probe") served by uringd"
else
        fail "$(basename "$probe") under uringd-run:"
        cat "$work/probe.out"
fi

# 7. A daemon that answers is used, not replaced, and left running.
if [ -x "$daemon" ]; then
        mkdir -p "$work/shared"
        sock=$work/shared/socket
        "$daemon" --socket "$sock" >"$work/daemon.log" 2>&1 &
        daemon_pid=$!
        for _ in $(seq 100); do [ -S "$sock" ] && break; sleep 0.05; done
        if [ ! -S "$sock" ]; then
                fail "$daemon --socket $sock did not create its socket:"
                cat "$work/daemon.log"
        else
                got=$(URINGD_SOCKET=$sock timeout 60 "$run" -- sh -c 'echo $URINGD_DAEMON_PID' </dev/null)
                [ "$got" = "$daemon_pid" ] && ok "running daemon reused" ||
                        fail "with a daemon on \$URINGD_SOCKET (pid $daemon_pid), URINGD_DAEMON_PID was '$got'"
                URINGD_EXPECT=uringd URINGD_SOCKET=$sock timeout 60 "$run" -- "$probe" >"$work/probe2.out" 2>&1 </dev/null ||
                        { fail "probe through the running daemon:"; cat "$work/probe2.out"; }
                kill -0 "$daemon_pid" 2>/dev/null && ok "running daemon left running" ||
                        fail "uringd-run stopped a daemon it did not start"
                # --socket beats the environment.
                got=$(URINGD_SOCKET="$work/none/socket" timeout 60 "$run" --socket "$sock" -- sh -c 'echo $URINGD_DAEMON_PID' </dev/null)
                [ "$got" = "$daemon_pid" ] && ok "--socket PATH used" ||
                        fail "--socket $sock: URINGD_DAEMON_PID was '$got', wanted $daemon_pid"
        fi
else
        fail "daemon binary not found at $daemon"
fi

if [ "$failures" != 0 ]; then
        echo "$failures check(s) failed"
        exit 1
fi
echo "PASS: uringd-run contract"
exit 0
