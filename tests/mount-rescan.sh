#!/bin/sh
# A change of another process that the keys it appended cannot tell (the
# reference's prune in place, its clear) is followed by a rescan that the
# mount answers through (issue 60): the test holds the rescan after its
# first step (BLTFS_FOLLOW_HOLD, fs/ctl/rescan.c), and meanwhile a key the
# index has not met yet reads through its path, the other keys read and
# list as before, and status says the rescan is under way.  Let go, the
# rescan ends with the mount showing the store exactly as the reference
# reads it.  Deletes that the dead blocks cannot show are swept the same
# way, in steps.
. "${top_srcdir:-$(dirname "$0")/..}/tests/lib.sh"
need_reference

a=$tmp/a.blt
m=$tmp/m

"$PY" - "$a" <<'PY' || fail "the reference could not make the store"
import booklet, sys
with booklet.open(sys.argv[1], 'n', key_serializer='str',
                  value_serializer='pickle') as db:
    for j in range(3000):
        db[f'd/k{j:04d}'] = j
PY

# reference CODE: run CODE with db, the store open for writing, once the
# mount has let its lock go.
unlocked() { ! grep -q ":$(stat -c %i "$a") " /proc/locks; }
# at_rest: the mount holds no lock of the store (a rescan that
# BLTFS_FOLLOW_HOLD held once it had ended in its first step used to keep
# it, now and then, with status saying no rescan: fs/ctl/follow.c)
at_rest()
{
	poll "the idle mount keeps the store locked: $(cat /proc/locks)" unlocked
}
reference()
{
	at_rest
	"$PY" -c "import booklet, sys
with booklet.open(sys.argv[1], 'w') as db:
$1" "$a" || fail "the reference failed (above)"
}
rescan() { status_get "$m" followed rescan; }
is_rescan() { [ "$(rescan)" = "$1" ]; }
value() { "$PY" -c 'import pickle, sys
print(pickle.load(open(sys.argv[1], "rb")))' "$1"; }
files() { find "$m" -path "$m/.bltfs" -prune -o -type f -print | wc -l; }
# the_same: the mount's files are the keys the reference reads, and one
# value in ten is equal
the_same()
{
	at_rest
	"$PY" - "$a" "$m" <<'PY' || fail "the mount does not show the store"
import booklet, os, pickle, sys
store, mnt = sys.argv[1:]
with booklet.open(store, 'r') as db:
    want = dict(db.items())
got = set()
for d, dirs, files in os.walk(mnt):
    if d == mnt and '.bltfs' in dirs:
        dirs.remove('.bltfs')
    got.update(os.path.relpath(os.path.join(d, f), mnt) for f in files)
assert got == set(want), (sorted(got - set(want))[:5],
                          sorted(set(want) - got)[:5])
for i, k in enumerate(sorted(want)):
    if i % 10 == 0:
        with open(os.path.join(mnt, k), 'rb') as f:
            assert pickle.load(f) == want[k], k
PY
}

lazy_hold
BLTFS_FOLLOW_HOLD=$tmp/hold BLTFS_FOLLOW_STEP=500
export BLTFS_FOLLOW_HOLD BLTFS_FOLLOW_STEP
bltfs_mount "$a" "$m"
unset BLTFS_FOLLOW_HOLD BLTFS_FOLLOW_STEP
[ "$(files)" = 3000 ] || fail "the mount shows $(files) files, not 3000"
[ "$(rescan)" = none ] || fail "status says a rescan before any change: $(rescan)"

# The pipeline deletes 100 keys, writes a new one at the end of the file
# and prunes in place: the mount's thread finds the store changed and
# rescans it, held after its first 500 keys.
reference "    for j in range(100):
        del db[f'd/k{j:04d}']
    db['d/late'] = 'LATE'
    db.prune()"
poll "no rescan started after the reference's prune" is_rescan reading
[ "$(value "$m/d/late")" = LATE ] ||
	fail "a key the rescan has not reached does not read through its path"
[ "$(value "$m/d/k2999")" = 2999 ] || fail "a key kept by the prune does not read"
[ "$(ls "$m/d" | wc -l)" -ge 2900 ] || fail "the listing of d did not answer"
[ ! -e "$m/d/k0000" ] || fail "a key the prune dropped still stats"
"$BLTFS" ctl "$m" status >"$tmp/st" || fail "bltfs ctl status during a rescan"
grep -q "rescan under way (reading the store)" "$tmp/st" ||
	fail "bltfs ctl status says: $(cat "$tmp/st")"
lazy_release
poll "the rescan did not end: $(rescan)" is_rescan none
[ "$(files)" = 2901 ] || fail "after the rescan the mount shows $(files) files"
[ "$(ls "$m/d" | wc -l)" = 2901 ] || fail "d lists $(ls "$m/d" | wc -l) names"
the_same
grep -q '"keys_gone": [1-9]' "$m/.bltfs/status" ||
	fail "status counts no name dropped: $(cat "$m/.bltfs/status")"

# The pipeline clears the store and writes ten keys: the rescan reads
# them in its first step, then sweeps the 2,901 names gone.
reference "    db.clear()
    for j in range(10):
        db[f'c/k{j}'] = -j"
poll "no rescan started after the reference's clear" is_rescan sweeping
[ "$(value "$m/c/k3")" = -3 ] || fail "a key written after the clear"
lazy_release
poll "the rescan did not end: $(rescan)" is_rescan none
[ "$(files)" = 10 ] || fail "after a clear the mount shows $(files) files"
the_same

# A delete the dead blocks cannot show: the pipeline overwrites a key
# 3,000 times and writes c/z after them, then deletes c/z; c/z's block is
# behind more dead blocks than the follow of a grown store looks at, so
# the mount sweeps its names.
reference "    for i in range(3000):
        db['c/k0'] = i
    db['c/z'] = 'Z'"
poll "c/z does not show" [ -e "$m/c/z" ]
swept() { echo $(($(status_get "$m" followed whole) + $(status_get "$m" followed sweeps))); }
before=$(swept)
reference "    del db['c/z']"
lazy_release
poll "the deleted key c/z still shows" absent "$m/c/z"
poll "the rescan did not end: $(rescan)" is_rescan none
# swept by the follow with the lock, or, while the pipeline was at work
# within 2 s, by a sweep without it
[ "$(swept)" -gt "$before" ] ||
	fail "the delete was not swept: $(cat "$m/.bltfs/status")"
[ "$(value "$m/c/k0")" = 2999 ] || fail "c/k0 does not read its last value"
the_same

# Keys the pipeline appended and synced, which the mount read without the
# lock while the pipeline held the store, are no delete when the mount
# follows the pipeline's close with the lock: no sweep of every name (each
# step of one takes the lock, and Debian's Python booklet fails at once to
# open a store it finds locked).
sweeps=$(status_get "$m" followed sweeps)
# follows: how many changes of others the mount followed with the lock
follows() { echo $(($(status_get "$m" followed grew) + $(status_get "$m" followed whole))); }
before=$(follows)
at_rest
"$PY" - "$a" "$m" <<'PY' || fail "the pipeline's appends did not show (above)"
import booklet, os, sys, time
store, mnt = sys.argv[1:]
with booklet.open(store, 'w') as db:
    for j in range(200):
        db[f'p/k{j}'] = j
    db.sync()
    end = time.monotonic() + 60
    while not os.path.exists(f'{mnt}/p/k199'):
        assert time.monotonic() < end, 'p/k199 does not show'
        time.sleep(0.05)
PY
followed() { [ "$(follows)" -gt "$before" ]; }
poll "the mount did not follow the pipeline's close" followed
at_rest
poll "the rescan did not end: $(rescan)" is_rescan none
[ "$(status_get "$m" followed sweeps)" = "$sweeps" ] ||
	fail "appends read without the lock started a sweep: $(cat "$m/.bltfs/status")"
the_same
bltfs_umount "$m"
