# SPDX-License-Identifier: LGPL-2.1-or-later
#
# Sourced by the tests that set kernel.io_uring_disabled (disabled.sh,
# fio.sh): the sysctl is global, so it is put back on every exit path;
# each test calls io_uring_disabled_restore from its EXIT trap.

io_uring_sysctl=/proc/sys/kernel/io_uring_disabled
io_uring_sysctl_saved=

# Set the sysctl to $1, keeping the value it had for the restore. Prints the
# change; on failure prints FAIL and returns 1.
io_uring_disabled_set() {
        io_uring_sysctl_saved=$(cat "$io_uring_sysctl") || { echo "FAIL: cannot read $io_uring_sysctl"; return 1; }
        echo "$1" >"$io_uring_sysctl" || { echo "FAIL: cannot set kernel.io_uring_disabled=$1"; return 1; }
        echo "kernel.io_uring_disabled=$1 (was $io_uring_sysctl_saved)"
}

# Put back the value kept by io_uring_disabled_set, if any.
io_uring_disabled_restore() {
        [ -n "$io_uring_sysctl_saved" ] || return 0
        if echo "$io_uring_sysctl_saved" >"$io_uring_sysctl"; then
                echo "restored kernel.io_uring_disabled=$io_uring_sysctl_saved"
        else
                echo "ERROR: could not restore kernel.io_uring_disabled=$io_uring_sysctl_saved" >&2
        fi
        io_uring_sysctl_saved=
}
