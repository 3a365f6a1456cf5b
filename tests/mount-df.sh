#!/bin/sh
# df describes the store: Used is the store file's size (it was the whole
# host file system's), Avail the free space of the file system under the
# store, and Size the two together.
. "${top_srcdir:-$(dirname "$0")/..}/tests/lib.sh"

store=$tmp/s.blt
m=$tmp/m
bltfs_mount "$store" "$m"
head -c 3000000 /dev/urandom >"$m/big"
printf 'small\n' >"$m/small"

# df_check: the mount's statvfs against the store's size and its host's
# free space, which other programs may change meanwhile: a little slack.
df_check()
{
	python3 - "$m" "$store" <<'PY' || fail "statfs of the mount"
import os, sys
mnt, store = sys.argv[1], sys.argv[2]
v = os.statvfs(mnt)
size = os.stat(store).st_size
host = os.statvfs(os.path.dirname(store))
used = (v.f_blocks - v.f_bfree) * v.f_frsize
assert used == -(-size // v.f_frsize) * v.f_frsize, (used, size)
assert v.f_bfree == v.f_bavail, (v.f_bfree, v.f_bavail)
avail, hostavail = v.f_bavail * v.f_frsize, host.f_bavail * host.f_frsize
assert abs(avail - hostavail) < 256 << 20, (avail, hostavail)
PY
}
df_check
# df itself: its Used column is the store's, rounded up to a block
used=$(df -B1 --output=used "$m" | tail -n 1 | tr -d ' ')
[ "$used" -ge "$(stat -c %s "$store")" ] &&
    [ "$used" -lt $(($(stat -c %s "$store") + 65536)) ] ||
	fail "df says $used used, the store holds $(stat -c %s "$store")"
# it follows the store as it grows and shrinks (a prune)
head -c 1000000 /dev/urandom >"$m/big"
df_check
"$BLTFS" ctl "$m" prune --wait >/dev/null 2>&1 || fail "prune"
df_check
bltfs_umount "$m"
