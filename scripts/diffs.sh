#!/bin/sh
# diffs.sh — `make diffs`: each server's main.c against its neighbour's, in the
# chain the course reads them (docs/README.md): what one model changes to become
# the next. Every pair prints the count of changed code lines (comments stripped
# by the C preprocessor), of changed comment lines, and of changed lines in the
# header comment, then the diff itself without the two header comments (each
# header says in words what the diff shows). A pair whose files do not exist is
# skipped with a note. SUMMARY=1: the counts only.
cd "$(dirname "$0")/.." || exit 1

# The chain, each server after the one read before it: iterative →
# fork_per_conn → prefork → prefork_select → threaded → multiplex → coroutine.
# Then three more pairs the headers point to: threaded is fork_per_conn's
# model with threads, multiplex keeps prefork_select's select(), and coroutine's
# handler is iterative's again. docs/README.md's map check holds the chain to
# its reading order. Last, proxy mode (docs/design.md#proxy-mode): the blocking
# handler with two sockets against multiplex's states for the same (a pair of
# files, named by their paths, rather than of servers).
pairs="iterative:fork_per_conn
fork_per_conn:prefork
prefork:prefork_select
prefork_select:threaded
threaded:multiplex
multiplex:coroutine
fork_per_conn:threaded
prefork_select:multiplex
iterative:coroutine
common/http_forward.c:./multiplex/upstream.c"

work=$(mktemp -d) || exit 1
trap 'rm -rf "$work"' EXIT

# The header comment (up to the first line that ends a comment), the rest, and
# the rest with every comment removed and trailing blanks trimmed.
split() {
    awk 'done { next } { print } /\*\// { done = 1 }' "$1" > "$work/$2.head"
    awk 'body { print } /\*\// { body = 1 }' "$1" > "$work/$2.body"
    cc -x c -fpreprocessed -dD -E -P "$work/$2.body" 2>/dev/null | sed 's/[[:space:]]*$//' \
        | grep -v '^$' > "$work/$2.code"
}
changed() { diff "$work/old.$1" "$work/new.$1" | grep -c '^[<>]'; }

for pair in $pairs; do
    old=${pair%%:*}
    new=${pair#*:}
    case $old in *.c) ;; *) old=$old/main.c new=$new/main.c ;; esac
    if [ ! -f "$old" ] || [ ! -f "$new" ]; then
        echo "=== $old -> $new: skipped (not there yet)"
        continue
    fi
    split "$old" old
    split "$new" new
    code=$(changed code)
    body=$(changed body)
    comments=$((body > code ? body - code : 0))
    echo "=== $old -> $new: $code code lines changed; comments: $comments, header: $(changed head)"
    if [ -z "$SUMMARY" ]; then
        diff -u --label "$old" --label "$new" "$work/old.body" "$work/new.body"
        echo
    fi
done
exit 0
