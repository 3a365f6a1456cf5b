#!/bin/sh
# The index cache (fs/indexer/index-cache.c): a mount of a store that has not
# changed since an earlier mount reads its directory index from
# $XDG_CACHE_HOME/bltfs instead of scanning, and shows the same tree; any
# change of the store sends the mount back to a scan, even one that puts
# back the file's size and modification time; a damaged or cut cache is
# said in the log and replaced, another user's is not read, and
# noindex_cache reads and writes none; what the save of a daemon that is
# gone left beside the cache goes with the next save.  (-o index_cache=0: every store is
# cached, not only those of a million keys.)
. "${top_srcdir:-$(dirname "$0")/..}/tests/lib.sh"

need_reference
m=$tmp/m
store=$tmp/s.blt
cache=$XDG_CACHE_HOME/bltfs

# make_store PATH LETTER: 300 keys in 7 directories and a marker, by the
# reference; LETTER is in every name, so that two stores differ in names
# alone, not in size.
make_store()
{
	"$PY" - "$1" "$2" <<'EOF' || fail "the reference could not write $1"
import booklet, sys
path, letter = sys.argv[1], sys.argv[2]
with booklet.open(path, "n", key_serializer="str", value_serializer="bytes") as db:
    for i in range(300):
        db[f"d{i % 7}/{letter}{i:04d}"] = b"value %04d" % i
    db["empty/"] = b""
EOF
}

index_from() { status_get "$m" index from; } # cache or scan

# mount_as FROM ARGS...: mount, check where the index came from, list it
mount_as()
{
	want=$1
	shift
	bltfs_mount "$store" "$m" "$@"
	got=$(index_from)
	[ "$got" = "$want" ] || fail "the index came from $got, not $want"
	(cd "$m" && find . | sort) >"$tmp/listing"
}

make_store "$store" k
wait_settled "$store"
mount_as scan -o index_cache=0
cp "$tmp/listing" "$tmp/scanned"
grep -qx './d3/k0003' "$tmp/scanned" || fail "the scan lists no d3/k0003"
grep -qx './empty' "$tmp/scanned" || fail "the scan lists no marker"
bltfs_umount "$m"
set -- "$cache"/index-*
[ $# = 1 ] && [ -f "$1" ] || fail "no cache file in $cache: $*"
file=$1
[ "$(stat -c %a "$file")" = 600 ] || fail "the cache file is not private"
# what a daemon killed while it saved would leave beside it (a process
# number no process has: above the kernel's pid_max), and what one
# saving now would: the next save removes the first alone
orphan=$file.$(($(cat /proc/sys/kernel/pid_max) + 1))
echo gone >"$orphan"
echo busy >"$file.$$"

# The same store again: the cache's tree, whole, and a working mount.
mount_as cache -o index_cache=0
cmp -s "$tmp/scanned" "$tmp/listing" || fail "the cached tree lists other names"
[ "$(cat "$m/d5/k0005")" = "value 0005" ] || fail "a cached file reads wrong"
python3 -c 'import json,sys; s = json.load(open(sys.argv[1])); assert s["live_bytes"] > 0, s' \
    "$m/.bltfs/status" || fail "status has no live bytes after a cached mount"
echo new >"$m/d1/added"
mv "$m/d2" "$m/moved"
bltfs_umount "$m"

# The mount changed the store: a scan, which shows the changes.
mount_as scan -o index_cache=0
grep -qx './d1/added' "$tmp/listing" || fail "a file written is not listed"
grep -qx './moved/k0002' "$tmp/listing" || fail "a renamed directory is not listed"
bltfs_umount "$m"

# Another store of the same size put in the file, and its modification
# time put back: the change time (which nothing can set back) tells.
make_store "$store" k
wait_settled "$store"
mount_as scan -o index_cache=0
bltfs_umount "$m"
[ ! -e "$orphan" ] || fail "a save of a daemon that is gone was left"
[ -e "$file.$$" ] || fail "the save of a live process was removed"
rm "$file.$$"
mount_as cache -o index_cache=0
bltfs_umount "$m"
make_store "$tmp/other.blt" j
[ "$(stat -c %s "$tmp/other.blt")" = "$(stat -c %s "$store")" ] ||
	fail "the two stores differ in size"
touch -r "$store" "$tmp/when"
cat "$tmp/other.blt" >"$store"
touch -r "$tmp/when" "$store"
mount_as scan -o index_cache=0
grep -qx './d3/j0003' "$tmp/listing" || fail "the other store's names are not listed"
! grep -q '/k0' "$tmp/listing" || fail "names of the store before are listed"
bltfs_umount "$m"

# A damaged cache, then one cut short: said, scanned, and made again.
wait_settled "$store"
mount_as scan -o index_cache=0
cp "$tmp/listing" "$tmp/scanned"
bltfs_umount "$m"
size=$(stat -c %s "$file")
printf 'X' | dd of="$file" bs=1 seek=$((size / 2)) conv=notrunc 2>/dev/null
mount_as scan -o index_cache=0
cmp -s "$tmp/scanned" "$tmp/listing" || fail "a damaged cache changed the tree"
grep -q "index cache $file: its sum is wrong; scanning the store instead" \
    "$tmp/log.$pid" || fail "the damaged cache is not said: $(cat "$tmp/log.$pid")"
bltfs_umount "$m"
mount_as cache -o index_cache=0 # made again by the scan
bltfs_umount "$m"
truncate -s $((size - 3)) "$file"
mount_as scan -o index_cache=0
grep -q "index cache $file: its sum is wrong" "$tmp/log.$pid" ||
	fail "the cut cache is not said: $(cat "$tmp/log.$pid")"
cmp -s "$tmp/scanned" "$tmp/listing" || fail "a cut cache changed the tree"
bltfs_umount "$m"

# Another user's cache is not read; noindex_cache neither reads one nor
# keeps one; stores under index_cache= keys are not cached.
chown nobody "$file"
mount_as scan -o index_cache=0
bltfs_umount "$m"
rm -f "$file"
mount_as scan -o noindex_cache
bltfs_umount "$m"
mount_as scan -o index_cache=302
bltfs_umount "$m"
[ ! -e "$file" ] || fail "a cache was kept with noindex_cache or index_cache=302"
mount_as scan -o index_cache=301
bltfs_umount "$m"
[ -e "$file" ] || fail "a store of index_cache= keys was not cached"

# A cache directory others may write (or not the user's own) is not used.
chmod 0777 "$cache"
mount_as scan -o index_cache=0
grep -q "index cache $cache: not a directory of the user's own" \
    "$tmp/log.$pid" || fail "a cache directory open to others is not said"
bltfs_umount "$m"
chmod 0700 "$cache"
chown nobody "$cache"
mount_as scan -o index_cache=0
bltfs_umount "$m"
