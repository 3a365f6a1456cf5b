#!/bin/sh
# Directory hints and the keys written since (fs/indexer/dir-hints.c,
# blt_iter_create_since()): when a lazy build confirms every witness of
# the hints and the store only grew since the scan they came from, it
# reads only the keys written after that scan instead of its first pass,
# so that a new directory, or a name that is not there, answers at once.
# The reference's store here outgrew its first index, as its stores of
# more than 12,007 keys do.  The build is held in its second pass: by
# then every directory must be known, the new one included.  It must not
# take that way when it cannot show that every directory is known: after a
# prune, once a witness went, or with an older copy of the store put in
# the file's place and grown past where it ended; each time the listing
# stays right.  Hints kept again by a mount whose index came from the
# index cache keep the mark they had.
. "${top_srcdir:-$(dirname "$0")/..}/tests/lib.sh"

need_reference
m=$tmp/m
store=$tmp/s.blt
cache=$XDG_CACHE_HOME/bltfs

# py CODE: run CODE on the store opened for writing, as db
py()
{
	"$PY" - "$store" "$1" <<'EOF' || fail "the reference could not change $store: $1"
import booklet, sys
with booklet.open(sys.argv[1], "w") as db:
    exec(sys.argv[2])
EOF
}

"$PY" - "$store" <<'EOF' || fail "the reference could not write $store"
import booklet, sys
# 5 buckets: the reference grows the index to 12,007 at the sixth key
with booklet.open(sys.argv[1], "n", key_serializer="str", value_serializer="bytes", n_buckets=5) as db:
    for i in range(3000):
        db[f"d{i % 9}/k{i:05d}"] = b"value %05d" % i
EOF
cp "$store" "$tmp/old.blt" # a copy from before late/
py 'for i in range(300): db[f"late/sub/k{i:05d}"] = b"late %05d" % i'

since() { status_get "$m" index directories_since_hints; }
built() { [ "$(status_get "$m" index state)" = built ]; }
# lazy_mount: a lazy mount that scans, not one that reads the index cache
lazy_mount()
{
	touch "$store"
	bltfs_mount "$store" "$m" -o ro,lazy,index_cache=0
	poll "the build did not end" built
}
# files: how many files the mount lists
files() { find "$m" -type f | wc -l; }
# refused WHY FILES: a lazy mount whose build did not take the keys written
# since the hints but looked for directories in every key, as the log says
# for the reason WHY ("": nothing said), and which lists FILES files
refused()
{
	lazy_mount
	[ "$(since)" = False ] || fail "the build took the keys written since ($1)"
	if [ -n "$1" ]; then
		grep -q "directory hints $hints: not enough for the keys written since: .*: $1;" "$tmp/log.$pid" ||
			fail "not said: $1: $(cat "$tmp/log.$pid")"
	elif grep -q "not enough" "$tmp/log.$pid"; then
		fail "said: $(cat "$tmp/log.$pid")"
	fi
	[ "$(files)" = "$2" ] || fail "the build lists $(files) files, not $2"
}

bltfs_mount "$store" "$m" -o index_cache=0
bltfs_umount "$m"
set -- "$cache"/dirs-*
[ $# = 1 ] && [ -f "$1" ] || fail "no hints file in $cache: $*"
hints=$1

# New keys: a new directory, and keys in directories the hints know.
py 'db["fresh/new/x"] = b"fresh"; db["d0/k99999"] = b"more"; db["d1/k00001"] = b"again"'

# Held at the first batch of each pass: the keys written since (3, one
# batch), then the second pass, by which every directory is known.
lazy_hold
touch "$store"
lazy_held_mount "$store" "$m" -o ro,lazy,index_cache=0
lazy_release x
poll "every directory is not known" dirs_known "$m"
[ "$(since)" = True ] || fail "the build did not use the hints and the keys written since"
[ "$(status_get "$m" index state)" = building ] || fail "the build was not held"
[ "$(status_get "$m" index directories_hinted)" = 10 ] ||
	fail "$(status_get "$m" index directories_hinted) hints, not 10"
"$BLTFS" ctl "$m" status >"$tmp/st" || fail "bltfs ctl status during the build"
grep -q "^index     building (-o lazy, every directory found: from hints and the keys written since):" "$tmp/st" ||
	fail "bltfs ctl status said: $(cat "$tmp/st")"
[ "$(cat "$m/fresh/new/x")" = fresh ] || fail "a key in a directory new since the hints"
[ "$(cat "$m/late/sub/k00299")" = "late 00299" ] || fail "a key in a late directory"
[ "$(cat "$m/d1/k00001")" = again ] || fail "a key written again since"
[ ! -e "$m/nothere" ] || fail "a name the store has not"
stat "$m/fresh/nothere" 2>"$tmp/err" && fail "a name the store has not, in a new directory"
grep -q "No such file" "$tmp/err" || fail "stat said: $(cat "$tmp/err")"
lazy_release x
poll "the build did not end" built
[ "$(files)" = 3302 ] || fail "the build lists $(files) files, not 3302"
bltfs_umount "$m"

# A mount whose index came from the index cache, through which a
# directory was made, keeps the hints again with the mark they had, as its
# index holds every key before it.
wait_settled "$store"
bltfs_mount "$store" "$m" -o index_cache=0 # a scan: keeps the cache
bltfs_umount "$m"
bltfs_mount "$store" "$m" -o index_cache=0
[ "$(status_get "$m" index from)" = cache ] || fail "the index cache was not read"
mkdir "$m/made"
echo made >"$m/made/f"
bltfs_umount "$m"
grep -qa 'made/f' "$hints" || fail "the directory made is not hinted"
py 'db["fresh2/y"] = b"y"'
lazy_mount
[ "$(since)" = True ] || fail "the hints kept from a mount of the index cache lost their mark"
[ "$(cat "$m/made/f")" = made ] && [ "$(cat "$m/fresh2/y")" = y ] ||
	fail "a key in a directory made through the mount, or written since"
[ "$(files)" = 3304 ] || fail "the build lists $(files) files, not 3304"
bltfs_umount "$m"

# A witness the store lost: its directory may hold other keys, so the
# first pass looks for them.
w=$(grep -ao 'd3/k[0-9]\{5\}' "$hints" | head -n 1)
[ -n "$w" ] || fail "no witness of d3 in the hints"
py "del db['$w']"
refused "" 3303
bltfs_umount "$m"

# An older copy of the store in the file's place, written again past where
# the store ended, with every witness but a new directory among the keys
# before that end: refused, as its last block is not there.
cp "$tmp/old.blt" "$store.new"
"$PY" - "$store.new" <<'EOF' || fail "the reference could not write over the copy"
import booklet, sys
with booklet.open(sys.argv[1], "w") as db:
    db["other/x"] = b"other"
    db["fresh/new/x"] = b"f"
    db["fresh2/y"] = b"y"
    db["made/f"] = b"m"
    for i in range(300):
        db[f"late/sub/k{i:05d}"] = b"l%d" % i
    for i in range(3300):
        db[f"more/k{i:05d}"] = b"more"
EOF
touch "$store"
bltfs_mount "$store" "$m" -o index_cache=0 # hints and a mark of the store
bltfs_umount "$m"
cat "$store.new" >"$store" # in place: the same file, the same hints
refused "its blocks are not where they were" 6604
[ "$(cat "$m/other/x")" = other ] || fail "a directory of the older copy"
bltfs_umount "$m"
# A prune moves blocks the mark names: refused, and said; then the scan
# after it leaves no mark, as no later prune could be told by one.
py 'db.prune()'
py 'db["after/prune"] = b"p"'
refused "it was pruned, cleared or replaced" 6605
[ "$(cat "$m/after/prune")" = p ] || fail "a key written after the prune"
bltfs_umount "$m"
# of which the hints keep no mark, as it could not tell of the next prune
refused "" 6605
bltfs_umount "$m"

echo "mount-lazy-since: ok"
