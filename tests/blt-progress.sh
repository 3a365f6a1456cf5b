#!/bin/sh
# Long commands show how far they are on a terminal (issue 40): map, load,
# dump, check, prune and reindex draw done of total on stderr where it is
# a terminal (script(1) gives them one), and leave the last state as a
# summary line; stdout keeps what scripts read (map's one JSON line,
# dump's lines).  Where stderr is no terminal, they print nothing more.
# A map whose workers have not said hello yet says how many it waits for
# (issue 59).
. "${top_srcdir:-$(dirname "$0")/..}/tests/blt-lib.sh"

command -v script >/dev/null || { echo "no script(1)" >&2; exit 77; }
s=$tmp/s.blt
py >"$tmp/items.jsonl" <<'PY'
import json
for i in range(3000):
    print(json.dumps({"key": "k%d" % i, "value": "value %d" % i}))
PY

# Not a terminal: stderr stays empty, stdout as it was.
expect 0 "$BLT" load -c "$s" "$tmp/items.jsonl"
[ ! -s "$tmp/err" ] || fail "load wrote to stderr: $(cat "$tmp/err")"
for cmd in "check" "prune" "reindex --buckets 100000" "dump" \
    "map --exec cat --workers 2"; do
	# shellcheck disable=SC2086 # the command's words
	expect 0 "$BLT" $cmd "$s"
	[ ! -s "$tmp/err" ] || fail "$cmd wrote to stderr: $(cat "$tmp/err")"
done
report written >/dev/null # one JSON line

# tty CMD: run CMD in a terminal; what the terminal showed, its carriage
# returns as newlines, in $tmp/tty.
tty()
{
	script -qec "$1" /dev/null </dev/null | tr '\r' '\n' >"$tmp/tty" ||
		fail "script: $1"
}

# shows TEXT: the terminal showed TEXT.
shows()
{
	grep -qF -- "$1" "$tmp/tty" || { cat "$tmp/tty" >&2; fail "no '$1'"; }
}

# ends TEXT: the terminal's last line of progress begins with TEXT, and
# says how long the command took.
ends()
{
	grep -v '^$' "$tmp/tty" | grep -F -- "${1%%:*}:" | tail -n 1 |
	    grep -qE "^$1.* in [0-9.]+ s" || { cat "$tmp/tty" >&2; fail "no '$1'"; }
}

rm -f "$s"
tty "'$BLT' load -c '$s' '$tmp/items.jsonl'"
size=$(wc -c <"$tmp/items.jsonl")
ends "load: .* of $(python3 -c "print('%.1f MiB' % ($size / 1048576))") \\(100%\\)"
tty "'$BLT' check '$s' >'$tmp/out'"
ends "check: .* \\(100%\\)"
[ "$(cat "$tmp/out")" = "$s: ok, 3000 keys" ] || fail "check said $(cat "$tmp/out")"
tty "'$BLT' map '$s' --exec 'tr a-z A-Z' --workers 2 >'$tmp/out'"
ends "map: 3,000 of 3,000 items \\(100%\\)"
counts 3000 0 0
[ "$("$BLT" get "$s" k7)" = "VALUE 7" ] || fail "the map did not run"
# while no worker has said hello, the line says how many it waits for
# (this one never does: the map fails once --start-timeout has passed)
W="python3 $top_srcdir/tests/worker-broken.py mute"
tty "'$BLT' map '$s' --worker '$W' --workers 2 --start-timeout 2 || :"
shows "map (waiting for 2 of 2 workers to start): 0 of 3,000 items (0%)"
shows "said no hello within 2 s of its start (--start-timeout)"
tty "'$BLT' dump '$s' >'$tmp/dump'"
ends "dump: 3,000 of 3,000 items \\(100%\\)"
[ "$(wc -l <"$tmp/dump")" = 3000 ] || fail "dump wrote $(wc -l <"$tmp/dump") lines"
# dump's lines on the terminal itself: no progress among them
tty "'$BLT' dump '$s'"
grep -q "dump:" "$tmp/tty" && fail "dump drew progress among its lines"
[ "$(grep -c '"key"' "$tmp/tty")" = 3000 ] || fail "dump on a terminal"
tty "'$BLT' prune '$s' >/dev/null"
ends "prune: .* \\(100%\\)"
tty "'$BLT' reindex --buckets 1000000 '$s'"
ends "reindex: .* buckets \\(100%\\)"
# a failure leaves no progress line behind its message
tty "'$BLT' reindex --buckets 10 '$s'"
shows "blt: $s: reindex grows the index"
grep -q "reindex: " "$tmp/tty" && fail "a failed reindex drew progress"
expect 0 "$BLT" check "$s"
