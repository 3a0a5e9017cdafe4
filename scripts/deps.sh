#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# Install the Debian packages that building and testing uringd need, and
# only when one of them is missing: apt-get update + install
# --no-install-recommends. As root, or through sudo when that is available.
# Non-interactive: safe in CI with no stdin.

set -euo pipefail

packages=(
        build-essential   # gcc, make, libc headers
        meson
        ninja-build
        pkg-config
        libseccomp-dev
        libsystemd-dev
        check             # unit test framework
        liburing-dev      # the e2e programs
        fio               # end-to-end workload and checker
        systemd           # systemd-analyze, systemd-socket-activate
        procps            # ps, used by the fio tests
        python3           # parses fio's JSON
)

installed() {
        [ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null)" = "install ok installed" ]
}

missing=()
for p in "${packages[@]}"; do
        installed "$p" || missing+=("$p")
done

if [ ${#missing[@]} -eq 0 ]; then
        echo "deps: all ${#packages[@]} packages present"
        exit 0
fi
echo "deps: installing ${missing[*]}"

if [ "$(id -u)" = 0 ]; then
        as_root=()
elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
        as_root=(sudo -n)
else
        echo "deps: missing ${missing[*]}, and neither root nor password-less sudo" >&2
        exit 1
fi

export DEBIAN_FRONTEND=noninteractive
"${as_root[@]}" apt-get update -q </dev/null
"${as_root[@]}" env DEBIAN_FRONTEND=noninteractive \
        apt-get install -y -q --no-install-recommends "${missing[@]}" </dev/null

# Check again: apt-get can succeed and still leave one out.
still=()
for p in "${missing[@]}"; do
        installed "$p" || still+=("$p")
done
if [ ${#still[@]} -ne 0 ]; then
        echo "deps: still missing after apt-get: ${still[*]}" >&2
        exit 1
fi
echo "deps: installed ${missing[*]}"
