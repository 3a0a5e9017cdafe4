#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# Build and run every test: dependencies, meson setup (reusing build/),
# compile, meson test. The last line of output is the summary
#   N passed, N failed, N skipped
# counted from build/meson-logs/testlog.json. Exits non-zero when a test
# failed (or the build did). Before that line, bench/run --quick runs for
# information only (URINGD_BENCH=0 skips it); it never changes the status.
#
# Extra arguments go to meson test, e.g. scripts/test.sh --suite e2e

set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
build=build

bash scripts/deps.sh

if [ -f "$build/meson-private/coredata.dat" ]; then
        # Reuse; reconfigure picks up new options and meson files. A build dir
        # from another meson version (or a broken one) is wiped instead.
        meson setup --reconfigure "$build" >/dev/null ||
                meson setup --wipe "$build"
else
        meson setup "$build"
fi
meson compile -C "$build"

log=$build/meson-logs/testlog.json
rm -f "$log"
set +e
meson test -C "$build" --print-errorlogs --timeout-multiplier 3 "$@"
rc=$?
set -e

if [ ! -s "$log" ]; then
        echo "meson test wrote no $log (exit $rc)"
        echo "0 passed, 1 failed, 0 skipped"
        exit 1
fi

# One JSON object per line, one line per test; "result" is one of OK,
# EXPECTEDFAIL, FAIL, TIMEOUT, ERROR, UNEXPECTEDPASS, SKIP.
summary=$(python3 - "$log" <<'PY'
import json, sys
n = {"pass": 0, "fail": 0, "skip": 0}
total = 0
for line in open(sys.argv[1]):
    if not line.strip():
        continue
    r = json.loads(line)["result"]
    total += 1
    if r in ("OK", "EXPECTEDFAIL"):
        n["pass"] += 1
    elif r == "SKIP":
        n["skip"] += 1
    else:  # FAIL, TIMEOUT, ERROR, UNEXPECTEDPASS, anything new
        n["fail"] += 1
print(n["pass"], n["fail"], n["skip"], total)
PY
) || {
        echo "cannot read $log"
        echo "0 passed, 1 failed, 0 skipped"
        exit 1
}
read -r passed failed skipped total <<<"$summary"

status=0
if [ "$failed" -ne 0 ] || [ "$rc" -ne 0 ]; then
        status=1
fi
if [ "$total" -eq 0 ]; then
        echo "no test ran"
        status=1
fi
# Informational: the quick benchmark, printed but never counted, and never
# allowed to change the exit status or the last line. URINGD_BENCH=0 skips it.
if [ "${URINGD_BENCH:-1}" != 0 ] && [ -x bench/run ]; then
        echo "---- bench/run --quick (informational, not counted; URINGD_BENCH=0 skips) ----"
        timeout -k 10 300 bench/run --quick --build "$build" </dev/null 2>&1 ||
                echo "bench/run --quick failed or timed out (not counted)"
fi
echo "$passed passed, $failed failed, $skipped skipped"
exit $status
