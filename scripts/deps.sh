#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# Install the Debian packages that building and testing uringd need, and
# only when one of them is missing: apt-get update + install
# --no-install-recommends. As root, or through sudo when that is available.
# Non-interactive: safe in CI with no stdin.
#
# The liburing suite (tests/liburing/) fetches liburing's source with
# `apt-get source`, which needs a deb-src entry: when there is none, one is
# added in /etc/apt/sources.list.d/uringd-src.sources, mirroring the first
# Debian deb entry (same URI, suites, components and keyring).

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
        dpkg-dev          # apt-get source: unpacks liburing's test suite
)

installed() {
        [ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null)" = "install ok installed" ]
}

srcfile=/etc/apt/sources.list.d/uringd-src.sources

has_deb_src() {
        grep -Eqs '^[[:space:]]*(deb-src[[:space:]]|Types:.*deb-src)' \
                /etc/apt/sources.list /etc/apt/sources.list.d/*.list \
                /etc/apt/sources.list.d/*.sources
}

# Prints a deb822 deb-src stanza copied from the first deb entry that points
# at a Debian archive (not -security): a .sources stanza or a one-line entry.
deb_src_stanza() {
        local f
        for f in /etc/apt/sources.list.d/*.sources; do
                [ -f "$f" ] || continue
                awk '
                function flush() {
                        if (deb && uri ~ /debian/ && uri !~ /security/ && !done) {
                                print "Types: deb-src"; print "URIs: " uri
                                print "Suites: " suites; print "Components: " comps
                                if (key != "") print "Signed-By: " key
                                done = 1
                        }
                        deb = 0; uri = suites = comps = key = ""
                }
                /^[[:space:]]*$/ { flush(); next }
                /^Types:/ { deb = ($0 ~ /[[:space:]]deb([[:space:]]|$)/) }
                /^URIs:/ { uri = $2 }
                /^Suites:/ { sub(/^Suites:[[:space:]]*/, ""); suites = $0 }
                /^Components:/ { sub(/^Components:[[:space:]]*/, ""); comps = $0 }
                /^Signed-By:/ { key = $2 }
                END { flush(); exit !done }' "$f" && return 0
        done
        # One-line format: deb [options] URI SUITE COMPONENT...
        for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
                [ -f "$f" ] || continue
                awk '
                $1 == "deb" {
                        i = 2; opts = ""
                        if ($2 ~ /^\[/) { while ($i !~ /\]$/) { opts = opts " " $i; i++ } opts = opts " " $i; i++ }
                        if ($i !~ /debian/ || $i ~ /security/) next
                        print "deb-src" opts " " $i " " $(i + 1) substr($0, index($0, $(i + 1)) + length($(i + 1)))
                        found = 1; exit
                }
                END { exit !found }' "$f" && return 0
        done
        return 1
}

missing=()
for p in "${packages[@]}"; do
        installed "$p" || missing+=("$p")
done

need_src=0
has_deb_src || need_src=1

if [ ${#missing[@]} -eq 0 ] && [ $need_src = 0 ]; then
        echo "deps: all ${#packages[@]} packages present"
        exit 0
fi
[ ${#missing[@]} -eq 0 ] || echo "deps: installing ${missing[*]}"

if [ "$(id -u)" = 0 ]; then
        as_root=()
elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
        as_root=(sudo -n)
else
        what=("${missing[@]}")
        [ $need_src = 0 ] || what+=("a deb-src entry")
        echo "deps: missing ${what[*]}, and neither root nor password-less sudo" >&2
        exit 1
fi

export DEBIAN_FRONTEND=noninteractive
if [ $need_src = 1 ]; then
        if stanza=$(deb_src_stanza); then
                case "$stanza" in
                deb-src*) srcfile=${srcfile%.sources}.list ;;
                esac
                echo "deps: adding $srcfile for apt-get source"
                printf '%s\n' "# Added by uringd scripts/deps.sh: apt-get source liburing" "$stanza" |
                        "${as_root[@]}" tee "$srcfile" >/dev/null
        else
                echo "deps: no Debian deb entry to mirror as deb-src; the liburing suite cannot fetch its source" >&2
        fi
fi
"${as_root[@]}" apt-get update -q </dev/null
if [ ${#missing[@]} -eq 0 ]; then
        exit 0
fi
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
