#!/usr/bin/env bash
# run_all.sh UNIT_TEST_BINARIES... — run the cmocka unit tests, the black-box
# suite against every line of tests/servers.list, and every other suite
# (tests/*/run.py), then print one summary line: "total: N passed, N failed".
# BUILD names the build tree (build, or build-san-... for a sanitizer build).
set -u
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
passed=0 failed=0
log=$(mktemp -d)
trap 'rm -rf "$log"' EXIT

# Add "N passed, N failed" found in the last such line of a file to the totals.
count() {
    local line
    line=$(grep -Eo '[0-9]+ passed, [0-9]+ failed' "$1" | tail -n 1)
    if [ -z "$line" ]; then
        return 1
    fi
    passed=$((passed + $(echo "$line" | awk '{print $1}')))
    failed=$((failed + $(echo "$line" | awk '{print $3}')))
}

for test in "$@"; do
    name=$(basename "$test")
    "$test" >"$log/$name" 2>&1
    status=$?
    ok=$(grep -Eo '\[  PASSED  \] [0-9]+' "$log/$name" | awk '{s+=$4} END {print s+0}')
    bad=$(grep -Eo '\[  FAILED  \] [0-9]+ test' "$log/$name" | awk '{s+=$4} END {print s+0}')
    if [ "$status" -ne 0 ] && [ "$bad" -eq 0 ]; then bad=1; fi   # crashed before reporting
    passed=$((passed + ok)); failed=$((failed + bad))
    printf '%-28s %4d passed, %d failed\n' "$name" "$ok" "$bad"
    [ "$bad" -eq 0 ] || sed 's/^/    /' "$log/$name" | grep -E 'FAIL|ERROR|error|Assert|Sanitizer' | head -20
done

for suite in tests/blackbox tests/*/; do
    suite=${suite%/}
    [ -f "$suite/run.py" ] || continue
    [ "$suite" = tests/blackbox ] && [ -n "${ran_blackbox-}" ] && continue
    [ "$suite" = tests/blackbox ] && ran_blackbox=1
    name=$(basename "$suite")
    python3 "$suite/run.py" --bin-dir "$BUILD/bin" >"$log/$name" 2>&1
    status=$?
    if ! count "$log/$name"; then
        if [ "$status" -eq 0 ]; then passed=$((passed + 1)); else failed=$((failed + 1)); fi
    elif [ "$status" -ne 0 ] && ! grep -Eq '[1-9][0-9]* failed' "$log/$name"; then
        failed=$((failed + 1))   # it failed without saying which case
    fi
    printf '%-28s %s\n' "$name" "$(grep -Eo '[0-9]+ passed, [0-9]+ failed' "$log/$name" | tail -n 1)"
    [ "$status" -eq 0 ] || grep -vE '^(ok|PASS)' "$log/$name" | tail -n 30 | sed 's/^/    /'
done

echo "total: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
