#!/bin/sh
# -o lazy: the mount answers before its directory index is built (fs/indexer/lazy.c).
# The build's first pass finds the directories, its second puts in the
# files.  The test holds each after its first batch of 1,024 keys
# (BLTFS_LAZY_HOLD names a FIFO the build reads one byte from each time),
# and while status says "building":
# - cat and stat of keys the scan has not reached are right: the store's
#   hash index finds them, in the root and in directories met so far;
#   directories show one link, as their count is not known yet;
# - in the first pass, a name the store has no key of and a directory not
#   met yet wait for the pass, and are right once it is done: in the
#   second, at once, while a listing and a write wait for the build;
# - a key that is also a directory, found as a file first, is the
#   directory once the first pass is done, with the key as its PATH_SELF
#   file, once, then and after the build;
# - all that without the sample of the store's keys that such a lookup
#   reads first (BLTFS_LAZY_SAMPLE=0); with it, while the first pass is
#   held, a directory in the sample answers at once, a missing name still
#   waits, and a mount where no lookup waits reads no sample.
# The index it built is kept in the index cache, files the kernel held
# among its files, and the next mount reads it back.  A read-only lazy
# mount lists every key too.  A store whose scan fails after the mount is
# up is in mount-held.sh.
. "${top_srcdir:-$(dirname "$0")/..}/tests/lib.sh"

store=$tmp/s.blt
m=$tmp/m
# 3,000 keys in d0, d1 and d2, met in the first batch; after them the keys
# the held scan has not reached: late/x, top, and d1/k0001/sub, which makes
# the key d1/k0001 a directory too
python3 - >"$tmp/items" <<'EOF'
import json
def item(k, v):
    print(json.dumps({"key": k, "value_hex": v.encode().hex()}))
for i in range(3000):
    item("d%d/k%04d" % (i % 3, i), "value %d\n" % i)
item("late/x", "LATE\n")
item("top", "TOP\n")
item("d1/k0001/sub", "SUB\n")
EOF
"$BLT" load --create "$store" <"$tmp/items" >/dev/null || fail "blt load"
wait_settled "$store" # to be cached

lazy_hold
state() { status_get "$m" index state; } # building, built

# without the sample a waiting lookup reads, which in a store this small
# is every key (it is checked at the end)
export BLTFS_LAZY_SAMPLE=0
lazy_held_mount "$store" "$m" -o lazy,index_cache=0
unset BLTFS_LAZY_SAMPLE

[ "$(state)" = building ] || fail "status says $(state) before the build was let go"
! dirs_known "$m" || fail "directories known in the first pass"
"$BLTFS" ctl "$m" status >"$tmp/st" || fail "bltfs ctl status while the index is built"
grep -q "^index     building (-o lazy):" "$tmp/st" || fail "bltfs ctl status said: $(cat "$tmp/st")"
grep -q "live and dead bytes once the index is built" "$tmp/st" ||
	fail "bltfs ctl status counted bytes during the build: $(cat "$tmp/st")"
[ "$(cat "$m/top")" = TOP ] || fail "a key in the root, not scanned yet"
[ "$(cat "$m/d2/k2999")" = "value 2999" ] || fail "a key not scanned yet"
[ "$(stat -c %s "$m/d2/k2999")" = 11 ] || fail "the size of a key not scanned yet"
# stat's own format asks for a birth time: statx, on kernels from 6.6,
# which must not wait for the build (it did; KILL ends a wait that would)
timeout -s KILL 120 stat "$m/d2/k2999" >/dev/null ||
	fail "stat of a key not scanned yet waited for the build"
[ "$(cat "$m/d1/k0001")" = "value 1" ] || fail "a key that is a directory too"
[ "$(stat -c %h "$m/d0")" = 1 ] ||
	fail "a directory has $(stat -c %h "$m/d0") links while it is being built"
ls -l "$m/top" >/dev/null || fail "ls -l of a key not scanned yet"
df "$m" >/dev/null || fail "df while the index is built"
cmp -s "$m/d0/k0000" - <<EOF || fail "a key scanned already"
value 0
EOF
# the kernel may let go of the files it looked up, as it does under
# memory pressure: the index keeps their names as entries
if [ -w /proc/sys/vm/drop_caches ]; then
	sync
	echo 2 >/proc/sys/vm/drop_caches
fi
[ "$(cat "$m/d2/k2999")" = "value 2999" ] || fail "a key again"
[ "$(state)" = building ] || fail "status says $(state): the build was not held"

# what waits for the first pass: a name the store does not have, a
# directory not met yet; for the build: a listing; and a file the kernel
# holds through the end of the build.  (Not in the directory listed: the
# kernel holds lookups in a directory while its listing waits, as libfuse
# does not let them run beside each other.)
ls "$m/d0" >"$tmp/ls" &
ls_pid=$!
cat "$m/d2/nope" >/dev/null 2>"$tmp/nope" &
nope_pid=$!
cat "$m/late/x" >"$tmp/late" &
late_pid=$!
exec 8<"$m/d2/k2999"

lazy_release # the first pass ends; the second holds after its first batch
if wait "$nope_pid"; then
	fail "cat of a missing key succeeded"
fi
grep -q "No such file" "$tmp/nope" || fail "cat of a missing key: $(cat "$tmp/nope")"
wait "$late_pid" || fail "cat of a key in a directory not met yet"
[ "$(cat "$tmp/late")" = LATE ] || fail "late/x read $(cat "$tmp/late")"
[ "$(state)" = building ] || fail "status says $(state): the second pass was not held"
dirs_known "$m" || fail "directories not known after the first pass"
"$BLTFS" ctl "$m" status >"$tmp/st" || fail "bltfs ctl status in the second pass"
grep -q "^index     building (-o lazy, every directory found):" "$tmp/st" ||
	fail "bltfs ctl status said: $(cat "$tmp/st")"
# every name answers now, but for listings
if cat "$m/nodir/x" 2>"$tmp/nope"; then
	fail "cat of a key in a directory the store has not succeeded"
fi
grep -q "No such file" "$tmp/nope" || fail "cat in a missing directory: $(cat "$tmp/nope")"
[ -d "$m/d1/k0001" ] || fail "d1/k0001 is no directory once the directories are known"
[ "$(cat "$m/d1/k0001/sub")" = SUB ] || fail "a key below a key, in the second pass"
[ "$(cat "$m/d1/k0001/‛.")" = "value 1" ] ||
	fail "the key d1/k0001 as its directory's PATH_SELF file, in the second pass"
[ ! -s "$tmp/ls" ] || fail "ls listed before the build ended"

lazy_release
wait "$ls_pid" || fail "ls of a directory during the build"
[ "$(wc -l <"$tmp/ls")" = 1000 ] || fail "ls listed $(wc -l <"$tmp/ls") of 1000"
[ "$(state)" = built ] || fail "status says $(state) once the build is done"
[ "$(cat <&8)" = "value 2999" ] || fail "a file open through the build"
exec 8<&-

[ "$(cat "$m/d1/k0001/sub")" = SUB ] || fail "a key below a key"
[ "$(ls -A "$m/d1/k0001" | LC_ALL=C sort | tr '\n' ' ')" = "sub ‛. " ] ||
	fail "d1/k0001 lists $(ls -A "$m/d1/k0001")"
[ "$(cat "$m/d1/k0001/‛.")" = "value 1" ] ||
	fail "the key d1/k0001 as its directory's PATH_SELF file"
[ "$(stat -c %h "$m/d0")" = 2 ] || fail "d0 has $(stat -c %h "$m/d0") links"
[ "$(stat -c %h "$m")" = 6 ] || fail "the root has $(stat -c %h "$m") links"
(cd "$m" && find . | sort) >"$tmp/built"
n=$(find "$m" -type f | wc -l)
[ "$n" = 3003 ] || fail "find counted $n files of 3003"
[ "$(ls "$m/d1" | wc -l)" = 1000 ] || fail "d1 lists $(ls "$m/d1" | wc -l)"
bltfs_umount "$m"

# the next mount reads the index the lazy one built
bltfs_mount "$store" "$m" -o lazy,index_cache=0
[ "$(status_get "$m" index from)" = cache ] ||
	fail "the index came from $(status_get "$m" index from), not the cache"
(cd "$m" && find . | sort) >"$tmp/cached"
cmp -s "$tmp/built" "$tmp/cached" || fail "the cached index lists other names"
[ "$(cat "$m/d2/k2999")" = "value 2999" ] || fail "a file of the cached index"
bltfs_umount "$m"

# a write waits for the build, and is there once it is done
lazy_held_mount "$store" "$m" -o lazy,noindex_cache
echo new >"$m/d2/new" &
new_pid=$!
lazy_release xx
wait "$new_pid" || fail "a write during the build"
[ "$(cat "$m/d2/new")" = new ] || fail "the file written during the build"
bltfs_umount "$m"
[ "$("$BLT" get "$store" d2/new)" = new ] || fail "the write is not in the store"

# The sample (sample.c: the keys of the chains of the first buckets of the
# store's hash index, a 1,024th of them, here all) that a lookup of a name
# not met reads while the first pass is held: late/x answers before the
# pass ends, a name that is not there still waits for it.  Keys of the
# store the kernel asks for read none.  (A lookup waiting in the daemon
# cannot be killed: if the sample fails, the pass is let go after 60 s,
# and the cat is then too late.)
sampled() { status_get "$m" index keys_sampled; }
export BLTFS_LAZY_SAMPLE=4000
lazy_held_mount "$store" "$m" -o ro,lazy,noindex_cache
unset BLTFS_LAZY_SAMPLE
! dirs_known "$m" || fail "directories known in the first pass"
[ "$(cat "$m/d2/k2999")" = "value 2999" ] || fail "a key, with the sample"
[ "$(sampled)" = 0 ] || fail "$(sampled) keys sampled, with no lookup waiting"
(
	trap 'kill "$nap" 2>/dev/null; exit 0' TERM
	sleep 60 &
	nap=$!
	wait "$nap"
	lazy_release
) &
watchdog=$!
late=$(cat "$m/late/x")
! dirs_known "$m" || fail "late/x answered only once the first pass was let go"
kill "$watchdog"
[ "$late" = LATE ] || fail "late/x, by the sample, read $late"
n=$(sampled)
[ "$n" -gt 0 ] && [ "$n" -le 3004 ] || fail "$n keys sampled of 3004"
"$BLTFS" ctl "$m" status >"$tmp/st" || fail "bltfs ctl status after a sample"
grep -q "^index     building (-o lazy, a sample of $n keys read):" "$tmp/st" ||
	fail "bltfs ctl status said: $(cat "$tmp/st")"
cat "$m/d2/nope" >/dev/null 2>"$tmp/nope" &
nope_pid=$!
[ "$(state)" = building ] || fail "status says $(state): the build was not held"
! dirs_known "$m" || fail "directories known in the held first pass"
lazy_release xx
! wait "$nope_pid" || fail "cat of a missing key succeeded"
grep -q "No such file" "$tmp/nope" || fail "cat of a missing key: $(cat "$tmp/nope")"
n=$(find "$m" -type f | wc -l)
[ "$n" = 3004 ] || fail "find counted $n files of 3004 after a sampled build"
bltfs_umount "$m"

# read-only: every key once built
bltfs_mount "$store" "$m" -o lazy,ro
[ "$(cat "$m/d0/k0003")" = "value 3" ] || fail "a read-only lazy mount"
n=$(find "$m" -type f | wc -l)
[ "$n" = 3004 ] || fail "find counted $n files of 3004 on a read-only mount"
bltfs_umount "$m"
echo "mount-lazy: ok"
