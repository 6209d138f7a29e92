#!/bin/sh
# diffs.sh — `make diffs`: the diff between neighbouring variants' main.c, in the
# order the course reads them. Each diff is a lesson: what one model changes to
# become the next. A pair whose files do not exist (yet) is skipped with a note.
cd "$(dirname "$0")/.." || exit 1

pairs="iterative:fork_per_conn
fork_per_conn:prefork
prefork:prefork_select
prefork:threaded
multiplex:coroutine
iterative:coroutine"

for pair in $pairs; do
    old=${pair%%:*}/main.c
    new=${pair#*:}/main.c
    if [ ! -f "$old" ] || [ ! -f "$new" ]; then
        echo "=== $old -> $new: skipped (not there yet)"
        continue
    fi
    changed=$(diff -u "$old" "$new" | grep -c '^[-+][^-+]')
    echo "=== $old -> $new: $changed lines changed"
    diff -u "$old" "$new"
    echo
done
exit 0
