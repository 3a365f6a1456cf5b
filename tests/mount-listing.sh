#!/bin/sh
# What listing a directory asks of the daemon (fs/ops/ops-dir.c, ops_readdir() and
# op_opendir()), checked in libfuse's request log (-d), on a fresh mount of
# a store whose keys were never looked up:
# - ls and find look up none of the names they list: the first page of a
#   listing has no attributes, and the rest comes by plain READDIR;
# - ls -l looks up the few names of that first page only, and gets the
#   attributes of all others with the names, a page of many at a time;
# - a listing is kept by the kernel from the second opening of its
#   directory on, so a third ls asks for no entries at all.
# And of course every listing shows every key, with its size.
. "${top_srcdir:-$(dirname "$0")/..}/tests/lib.sh"

store=$tmp/s.blt
m=$tmp/m
n=600
python3 - "$n" >"$tmp/items" <<'EOF'
import json, sys
for d in ("long", "plain", "found", "again"):
    for i in range(int(sys.argv[1])):
        v = ("%s %d\n" % (d, i)) * (i % 7)
        print(json.dumps({"key": "%s/file-%04d" % (d, i),
                          "value_hex": v.encode().hex()}))
EOF
"$BLT" load --create "$store" <"$tmp/items" >/dev/null ||
	fail "blt load of $n keys a directory"
bltfs_mount "$store" "$m" -d
log=$tmp/log.$pid

# requests CMD...: run CMD, then print the opcodes it sent, one a line.
requests()
{
	from=$(($(wc -l <"$log") + 1))
	"$@" >"$tmp/out" || fail "$*"
	tail -n "+$from" "$log" |
	    sed -n 's/^unique: [0-9]*, opcode: \([A-Z_]*\) .*/\1/p' >"$tmp/ops"
}

# count OPCODE: how many of the last requests were OPCODE.
count()
{
	grep -cx "$1" "$tmp/ops"
}

# expect DIR: the names and sizes of DIR's keys, as ls -l lists them.
expect()
{
	python3 - "$1" "$n" <<'EOF'
import sys
d, n = sys.argv[1], int(sys.argv[2])
for i in range(n):
    print("%d file-%04d" % (len(("%s %d\n" % (d, i)) * (i % 7)), i))
EOF
}

# the directories themselves are looked up here, not by the commands
stat "$m/long" "$m/plain" "$m/found" "$m/again" >/dev/null

requests ls -l --time-style=+ "$m/long"
awk 'NR > 1 { print $5, $NF }' "$tmp/out" >"$tmp/got"
expect long >"$tmp/want"
cmp -s "$tmp/got" "$tmp/want" || fail "ls -l shows other names or sizes"
lookups=$(count LOOKUP)
pages=$(count READDIRPLUS)
[ "$lookups" -le 8 ] || fail "ls -l of $n names looked up $lookups of them"
[ "$pages" -le 2 ] && fail "ls -l of $n names: only $pages listing requests"
[ "$pages" -le $((n / 40)) ] ||
	fail "ls -l of $n names took $pages READDIRPLUS requests"

requests ls "$m/plain"
[ "$(wc -l <"$tmp/out")" = "$n" ] || fail "ls lists $(wc -l <"$tmp/out")"
[ "$(count LOOKUP)" = 0 ] || fail "ls looked up $(count LOOKUP) names"

requests find "$m/found" -type f
[ "$(wc -l <"$tmp/out")" = "$n" ] || fail "find lists $(wc -l <"$tmp/out")"
[ "$(count LOOKUP)" = 0 ] || fail "find looked up $(count LOOKUP) names"

requests ls "$m/again"
requests ls "$m/again"
requests ls "$m/again"
[ "$(wc -l <"$tmp/out")" = "$n" ] || fail "a kept listing has $(wc -l <"$tmp/out")"
if grep -qE '^READDIR(PLUS)?$' "$tmp/ops"; then
	fail "the third ls asked for entries: $(tr '\n' ' ' <"$tmp/ops")"
fi

bltfs_umount "$m"
check_store "$store"
