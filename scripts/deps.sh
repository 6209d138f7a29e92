#!/usr/bin/env bash
# deps.sh SET... — install the Debian packages a set needs, if any are missing.
#   test   what `make test` needs: compiler, make, cmocka, liburing (the
#          coroutine server's --io uring), python3, and curl and
#          procps (ps, pgrep) for the docs' quick command blocks (make check),
#          git for make mutants (git ls-files, git apply)
#   bench  what `make bench` needs: wrk, gnuplot, python3, taskset, liburing
#          (the floor server's --io uring), strace (system calls per request),
#          and nginx for the reference line (installed with its service kept from
#          starting: the bench runs its own nginx on a loopback port)
#   check  what `make check` (and `make format`, `make format-check`) needs
#          beyond the test set: clang-format (Debian 12: version 14), and
#          valgrind (tests/valgrind: memcheck under the black-box suite), and
#          universal-ctags for the names check (scripts/check_claims.py)
#   fuzz   what `make fuzz` needs: clang and its libFuzzer runtime
# Prints what it installs; does nothing (and prints nothing) when all is present.
# Runs apt-get update first when something must be installed (a fresh machine
# has no package lists); uses sudo only when not root.
set -euo pipefail

packages_for() {
    case "$1" in
        test)  echo "gcc make libcmocka-dev liburing-dev python3 libc6-dev curl procps git" ;;
        bench) echo "gcc make wrk gnuplot-nox python3 util-linux procps nginx-light liburing-dev strace" ;;
        check) echo "clang-format valgrind universal-ctags" ;;
        fuzz)  echo "clang libclang-rt-14-dev" ;;
        *) echo "deps.sh: unknown set '$1' (test, check, bench or fuzz)" >&2; exit 2 ;;
    esac
}

missing=()
for set in "$@"; do
    for package in $(packages_for "$set"); do
        status=$(dpkg-query -W -f='${Status}' "$package" 2>/dev/null || true)
        case "$status" in
            *" installed") ;;
            *) [[ " ${missing[*]-} " == *" $package "* ]] || missing+=("$package") ;;
        esac
    done
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "deps.sh: installing ${missing[*]}"
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
# A package with a daemon (nginx) would start it on port 80; Debian's
# policy-rc.d hook (exit 101: "action forbidden") keeps it from starting. It is
# made only for this install and only if the machine has none of its own.
policy=/usr/sbin/policy-rc.d
if [ ! -e "$policy" ]; then
    trap '$sudo rm -f "$policy"' EXIT
    printf '#!/bin/sh\nexit 101\n' | $sudo tee "$policy" >/dev/null
    $sudo chmod 755 "$policy"
fi
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "deps.sh: installed ${missing[*]}"
