#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# ns.sh pid|chroot PROG [ARGS...]
#
# Runs an e2e program in another pid namespace (unshare --pid --fork
# --mount-proc), or chrooted into a directory that holds only the program,
# its libraries and a /proc (in a private mount namespace). compare.sh runs
# this script both on the kernel and under uringd-run, so the program meets
# the same namespace either way. Root only: exits 77 otherwise.

set -uo pipefail

kind=${1:-}
shift || true
if [ $# -lt 1 ] || { [ "$kind" != pid ] && [ "$kind" != chroot ]; }; then
        echo "usage: $0 pid|chroot PROG [ARGS...]" >&2
        exit 2
fi
if [ "$(id -u)" != 0 ]; then
        echo "SKIP: namespaces need root here" >&2
        exit 77
fi
command -v unshare >/dev/null || { echo "SKIP: no unshare(1)" >&2; exit 77; }

if [ "$kind" = pid ]; then
        exec unshare --pid --fork --mount-proc "$@"
fi

prog=$1
shift
root=$(mktemp -d "${TMPDIR:-/tmp}/uringd-chroot.XXXXXX") || exit 1
trap 'rm -rf "$root"' EXIT
mkdir -p "$root/proc" "$root/tmp"
cp "$prog" "$root/prog"
# The program and every library it loads, at the same paths.
for lib in $(ldd "$prog" | grep -o '/[^ ]*'); do
        mkdir -p "$root$(dirname "$lib")"
        cp -L "$lib" "$root$lib"
done
# No shim inside: an exec'd program that cannot load it (notify mode still
# serves it through the inherited filter; see README).
# Scratch files go to the chroot's own /tmp.
URINGD_TEST_TMPDIR=/tmp unshare --mount sh -c \
        'r=$1; shift; mount -t proc proc "$r/proc" && exec chroot "$r" /prog "$@"' sh "$root" "$@"
