#!/bin/sh
# Directory hints (fs/indexer/dir-hints.c): a build that ends keeps a key below each
# directory (its witness) beside the index cache, and the next lazy build
# puts in first the directories whose witnesses the store still has, so
# that a path in a directory whose keys come late in the store answers
# before the first pass gets there, even once the store has changed.  The
# store here has its late directories after the first batch of the first
# pass, which is held; the reference changes it between the mounts (a
# directory goes, one comes).  A hint whose witness went makes no
# directory; a damaged hints file is said in the log, removed and made
# again; directories made through a mount are kept when it ends; what a
# killed save left goes with the next; another user's file is not read;
# noindex_cache keeps none.
. "${top_srcdir:-$(dirname "$0")/..}/tests/lib.sh"

need_reference
m=$tmp/m
store=$tmp/s.blt
cache=$XDG_CACHE_HOME/bltfs

"$PY" - "$store" <<'EOF' || fail "the reference could not write $store"
import booklet, sys
with booklet.open(sys.argv[1], "n", key_serializer="str", value_serializer="bytes") as db:
    for i in range(3000):
        db[f"d{i % 9}/k{i:05d}"] = b"value %05d" % i
    for i in range(300):
        db[f"late/sub/k{i:05d}"] = b"late %05d" % i
    db["gone/only"] = b"gone"
    db["mark/"] = b""
EOF

state() { status_get "$m" index state; } # building, built
hinted() { status_get "$m" index directories_hinted; }
built() { [ "$(state)" = built ]; }
# lazy_mount ARGS...: a lazy mount that scans: the index cache of a store
# unchanged for two seconds would be read instead, and a touch is a change
lazy_mount()
{
	touch "$store"
	bltfs_mount "$store" "$m" -o ro,lazy,index_cache=0 "$@"
	poll "the build did not end" built
}

# the build of a mount without -o lazy keeps hints too
bltfs_mount "$store" "$m" -o index_cache=0
[ "$(hinted)" = 0 ] || fail "a mount without -o lazy says it used hints"
bltfs_umount "$m"
set -- "$cache"/dirs-*
[ $# = 1 ] && [ -f "$1" ] || fail "no hints file in $cache: $*"
hints=$1
[ "$(stat -c %a "$hints")" = 600 ] || fail "the hints file is not private"

"$PY" - "$store" <<'EOF' || fail "the reference could not change $store"
import booklet, sys
with booklet.open(sys.argv[1], "w") as db:
    del db["gone/only"]
    db["fresh/x"] = b"fresh"
EOF

# The first pass holds after its first batch, which holds none of late/,
# mark/ or fresh/; the hints of d0 to d8, late/sub and mark were put in
# before it, not gone's.
lazy_hold
touch "$store" # as lazy_mount
lazy_held_mount "$store" "$m" -o ro,lazy,index_cache=0
! dirs_known "$m" || fail "the first pass was not held"
[ "$(hinted)" = 11 ] || fail "the build confirmed $(hinted) hints, not 11"
"$BLTFS" ctl "$m" status >"$tmp/st" || fail "bltfs ctl status during the build"
grep -q "^index     building (-o lazy, 11 directories from hints):" "$tmp/st" ||
	fail "bltfs ctl status said: $(cat "$tmp/st")"
[ "$(cat "$m/late/sub/k00123")" = "late 00123" ] ||
	fail "a key in a late directory, by its hint"
[ -d "$m/late" ] && [ -d "$m/mark" ] || fail "a hinted directory is not there"
[ "$(state)" = building ] || fail "status says $(state): the build was not held"
lazy_release xx
poll "the build did not end" built
[ ! -e "$m/gone" ] || fail "a directory whose keys went is there"
[ "$(cat "$m/fresh/x")" = fresh ] || fail "a directory the hints do not know"
[ "$(find "$m" -type f | wc -l)" = 3301 ] || fail "the build lists wrong"
bltfs_umount "$m"
# remade by that build: the directory that came, not the one that went
grep -qa 'fresh/x' "$hints" || fail "the hints were not made again"
! grep -qa 'gone/only' "$hints" || fail "the hints keep a directory that went"

# Directories made through a read-write mount after its build are kept at
# unmount, for the next lazy build.
bltfs_mount "$store" "$m" -o index_cache=0
mkdir -p "$m/made/deep"
echo made >"$m/made/deep/x"
bltfs_umount "$m"
grep -qa 'made/deep/x' "$hints" || fail "a directory made through the mount is not hinted"
touch "$store"
lazy_held_mount "$store" "$m" -o ro,lazy,index_cache=0
[ "$(cat "$m/made/deep/x")" = made ] || fail "a key in a directory the mount made, by its hint"
lazy_release xx
poll "the build did not end" built
bltfs_umount "$m"

# What a save by a daemon that is gone left beside the file goes with the
# next save (a process number no process has: above the kernel's pid_max).
orphan=$hints.$(($(cat /proc/sys/kernel/pid_max) + 1))
echo gone >"$orphan"

# A damaged file: said, not used, made again by the build.
size=$(stat -c %s "$hints")
printf 'X' | dd of="$hints" bs=1 seek=$((size / 2)) conv=notrunc 2>/dev/null
lazy_mount
grep -q "directory hints $hints: its sum is wrong; not used" "$tmp/log.$pid" ||
	fail "the damaged hints are not said: $(cat "$tmp/log.$pid")"
[ "$(hinted)" = 0 ] || fail "damaged hints were used"
[ "$(find "$m" -type f | wc -l)" = 3302 ] || fail "damaged hints changed the tree"
bltfs_umount "$m"
lazy_mount
# and fresh, and made/deep (made's marker, mkdir's, went with its first
# entry: doc/keys.md)
[ "$(hinted)" = 13 ] || fail "the hints were not made again: $(hinted)"
[ ! -e "$orphan" ] || fail "a save of a daemon that is gone was left"
bltfs_umount "$m"
# cut short
head -c 30 "$hints" >"$tmp/cut"
cat "$tmp/cut" >"$hints"
lazy_mount
grep -q "directory hints $hints: it is cut short; not used" "$tmp/log.$pid" ||
	fail "cut hints are not said: $(cat "$tmp/log.$pid")"
bltfs_umount "$m"

# Another user's hints are not read; noindex_cache keeps none.
chown nobody "$hints"
lazy_mount
[ "$(hinted)" = 0 ] || fail "another user's hints were used"
bltfs_umount "$m"
rm -f "$hints"
lazy_mount -o noindex_cache
bltfs_umount "$m"
[ ! -e "$hints" ] || fail "hints were kept with noindex_cache"
echo "mount-lazy-hints: ok"
