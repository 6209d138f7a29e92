#!/usr/bin/env bash
# run_all.sh [--quick] UNIT_TEST_BINARIES... — run the test suites, a line each
# (its counts and the seconds it took, so CI's log shows where the time goes),
# then one line: "total: N passed, N failed in N s".
#   --quick (make test): the cmocka unit tests and the black-box suite against
#       tests/quick.list, one configuration per server.
#   otherwise (make check): the unit tests, the black-box suite against every
#       line of tests/servers.list (and in its --dirty mode, and through a
#       proxy with --proxy, against tests/quick.list), every other suite (tests/*/run.py: tests/valgrind
#       runs the quick list under valgrind), the quick entries of tests/mutants/
#       (scripts/mutants.py --quick) and the docs' quick runnable blocks; with
#       SANITIZER_PASSES=1 also the unit tests under ASan+UBSan, the
#       black-box suite under it against tests/sanitizer.list (each piece of
#       code once) and the threaded configurations under TSan; with
#       FORMAT_CHECK=1 also `make format-check`.
# BUILD names the build tree (build, or build-san-... for a sanitizer build).
set -u
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
# Not handed on: a suite that runs make (tests/grade: SAN=thread) must get the
# tree its SAN names, not this one.
export -n BUILD
passed=0 failed=0
log=$(mktemp -d)
trap 'rm -rf "$log"' EXIT

# Add the last "N passed, N failed" of a log to the totals; false if none.
count() {
    local line
    line=$(grep -Eo '[0-9]+ passed, [0-9]+ failed' "$1" | tail -n 1)
    [ -n "$line" ] || return 1
    passed=$((passed + $(echo "$line" | awk '{print $1}')))
    failed=$((failed + $(echo "$line" | awk '{print $3}')))
}

# unit LABEL BINARY: one cmocka test program.
unit() {
    local name=$1 test=$2 status ok bad
    "$test" >"$log/$name" 2>&1
    status=$?
    ok=$(grep -Eo '\[  PASSED  \] [0-9]+' "$log/$name" | awk '{s+=$4} END {print s+0}')
    bad=$(grep -Eo '\[  FAILED  \] [0-9]+ test' "$log/$name" | awk '{s+=$4} END {print s+0}')
    if [ "$status" -ne 0 ] && [ "$bad" -eq 0 ]; then bad=1; fi   # crashed before reporting
    passed=$((passed + ok)); failed=$((failed + bad))
    printf '%-28s %d passed, %d failed\n' "$name" "$ok" "$bad"
    [ "$bad" -eq 0 ] || grep -E 'FAIL|ERROR|error|Assert|Sanitizer' "$log/$name" | head -20 |
        sed 's/^/    /'
}

# suite LABEL COMMAND...: a Python suite that ends with "N passed, N failed".
suite() {
    local name=$1 status began=$SECONDS
    shift
    "$@" >"$log/$name" 2>&1
    status=$?
    if ! count "$log/$name"; then
        failed=$((failed + 1))           # it never said what it ran
    elif [ "$status" -ne 0 ] && ! grep -Eq '[1-9][0-9]* failed' "$log/$name"; then
        failed=$((failed + 1))           # it failed without saying which case
    fi
    printf '%-28s %-24s %4d s\n' "$name" \
        "$(grep -Eo '[0-9]+ passed, [0-9]+ failed' "$log/$name" | tail -n 1)" $((SECONDS - began))
    [ "$status" -eq 0 ] || grep -E '^FAIL|Sanitizer|runtime error|Traceback' -A3 "$log/$name" |
        head -40 | sed 's/^/    /'
}

quick=
if [ "${1-}" = --quick ]; then
    quick=1
    shift
fi

for test in "$@"; do
    unit "$(basename "$test")" "$test"
done
if [ -n "$quick" ]; then
    suite blackbox python3 tests/blackbox/run.py --bin-dir "$BUILD/bin" --list tests/quick.list
    echo "total: $passed passed, $failed failed in $SECONDS s"
    [ "$failed" -eq 0 ]
    exit
fi
suite blackbox python3 tests/blackbox/run.py --bin-dir "$BUILD/bin"
# Each plain-server case right after each state-dirtying exchange, on one
# server per configuration of the quick list (about 1.5 minutes on 2 cores).
suite blackbox-dirty python3 tests/blackbox/run.py --bin-dir "$BUILD/bin" --list tests/quick.list \
    --dirty
# Every case through a proxy: each configuration of the quick list in front of
# one multiplex upstream (make blackbox-proxy: every line of tests/servers.list).
suite blackbox-proxy python3 tests/blackbox/run.py --bin-dir "$BUILD/bin" --list tests/quick.list \
    --proxy
for dir in tests/*/; do
    dir=${dir%/}
    case $dir in tests/blackbox | tests/lib | tests/unit) continue ;; esac
    # valgrind cannot run a sanitizer's build (make SAN=... check).
    case $dir/$BUILD in tests/valgrind/build-san-*) continue ;; esac
    [ -f "$dir/run.py" ] && suite "$(basename "$dir")" python3 "$dir/run.py" --bin-dir "$BUILD/bin"
done

if [ -n "${SANITIZER_PASSES-}" ]; then
    asan=build-san-address-undefined
    for test in "$@"; do
        unit "asan-$(basename "$test")" "$asan/tests/$(basename "$test")"
    done
    suite asan-blackbox python3 tests/blackbox/run.py --bin-dir "$asan/bin" \
        --list tests/sanitizer.list
    grep -E '^threaded' tests/servers.list >"$log/threaded.list"
    suite tsan-blackbox python3 tests/blackbox/run.py --bin-dir build-san-thread/bin \
        --list "$log/threaded.list"
fi

# The wrong versions of tests/mutants/ that are quick to kill (make mutants runs
# them all): each one a check must still fail, on a scratch copy of the tree.
suite mutants python3 scripts/mutants.py --quick

# The docs' runnable command blocks, quick ones only (make check-docs runs all).
suite check-docs python3 scripts/check_docs.py --quick

if [ -n "${FORMAT_CHECK-}" ]; then
    suite format-check make --no-print-directory -s format-check
fi

echo "total: $passed passed, $failed failed in $SECONDS s"
[ "$failed" -eq 0 ]
