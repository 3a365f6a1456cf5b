#!/bin/sh
# A first mount on a terminal says what it waits for (issue 59): while the
# scan of the store builds the index, bltfs draws the keys read of the
# header's count on stderr, leaves the last state as a summary line, and
# says that -o lazy would have answered at once.  Where stderr is no
# terminal it prints nothing of it, and a mount that answers at once (-o
# lazy) draws nothing.  BLTFS_SCAN_QUIET_MS=0 has the scan of a small
# store draw at once (a scan quicker than half a second draws nothing).
. "${top_srcdir:-$(dirname "$0")/..}/tests/lib.sh"

command -v script >/dev/null || { echo "no script(1): skipped" >&2; exit 77; }
s=$tmp/s.blt
m=$tmp/m
mkdir -p "$m"
python3 -c 'import json
for i in range(5000):
    print(json.dumps({"key": "d%d/k%d" % (i % 10, i), "value": "v%d" % i}))' \
    >"$tmp/items.jsonl"
"$BLT" load -c "$s" "$tmp/items.jsonl"

# Not a terminal: nothing of it on stderr, though it may draw at once.
BLTFS_SCAN_QUIET_MS=0 bltfs_mount "$s" "$m" -o noindex_cache
[ "$(cat "$m/d3/k3")" = v3 ] || fail "the mount does not read"
bltfs_umount "$m"
! grep -q "reading the store's keys\|-o lazy" "$tmp/log.$pid" ||
	fail "a mount with no terminal drew: $(cat "$tmp/log.$pid")"

# tty CMD: run CMD in a terminal (script(1)); what the terminal showed,
# its carriage returns as newlines, in $tmp/tty.  bltfs, not in the
# foreground, returns once the mount is ready, and its daemon leaves the
# terminal.
tty()
{
	script -qec "$1" /dev/null </dev/null | tr '\r' '\n' >"$tmp/tty" ||
		fail "script: $1"
}
# umount_tty: unmount what tty mounted, once its store is closed.
umount_tty()
{
	"$BLTFS" ctl "$m" unmount || fail "bltfs ctl unmount"
}

echo "0 $m" >>"$daemons" # not our child: the EXIT trap only unmounts it
tty "BLTFS_SCAN_QUIET_MS=0 '$BLTFS' '$s' '$m' -o noindex_cache"
[ "$(cat "$m/d7/k4997")" = v4997 ] || fail "the mount made on a terminal"
umount_tty
grep -qE "^bltfs: reading the store's keys: 5,000 of 5,000 keys \\(100%\\).* in [0-9.]+ s" \
    "$tmp/tty" || { cat "$tmp/tty" >&2; fail "no summary line"; }
grep -qx "bltfs: with -o lazy the mount answers at once, while its index is built" \
    "$tmp/tty" || { cat "$tmp/tty" >&2; fail "no word of -o lazy"; }

# -o lazy answers at once: nothing to wait for, nothing drawn.
tty "BLTFS_SCAN_QUIET_MS=0 '$BLTFS' '$s' '$m' -o noindex_cache,lazy"
[ "$(cat "$m/d0/k0")" = v0 ] || fail "the lazy mount made on a terminal"
umount_tty
! grep -q "reading the store's keys\|-o lazy" "$tmp/tty" ||
	{ cat "$tmp/tty" >&2; fail "a lazy mount drew"; }
