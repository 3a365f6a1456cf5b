#!/bin/sh
# How a mount follows changes of another process that the keys it
# appended cannot tell (issue 60, 66).  The reference's prune in place and
# its clear are read again without the lock, and the names of the keys
# gone swept without it, so the mount never takes the lock the pipeline's
# next open wants (Debian's booklet fails at once on a held lock).
# Another file put in the store's place is read again with the lock, in
# steps that the mount answers through: the test holds that rescan after
# its first step (BLTFS_FOLLOW_HOLD, fs/ctl/rescan.c), and meanwhile a key
# the index has not met yet reads through its path, the other keys read
# and list as before, and status says the rescan is under way.  Each time
# the mount ends showing the store exactly as the reference reads it.
. "${top_srcdir:-$(dirname "$0")/..}/tests/lib.sh"
need_reference

a=$tmp/a.blt
m=$tmp/m

ref_new "$a" pickle "    for j in range(3000):
        db[f'd/k{j:04d}'] = j"

# reference CODE: run CODE with db, the store open for writing, once the
# mount has let its lock go.
# at_rest: the mount holds no lock of the store (a rescan that
# BLTFS_FOLLOW_HOLD held once it had ended in its first step used to keep
# it, now and then, with status saying no rescan: fs/ctl/follow.c)
at_rest() { store_let_go "$a"; }
reference()
{
	at_rest
	ref_write "$a" "$1"
}
rescan() { status_get "$m" followed rescan; }
is_rescan() { [ "$(rescan)" = "$1" ]; }
value() { "$PY" -c 'import pickle, sys
print(pickle.load(open(sys.argv[1], "rb")))' "$1"; }
files() { find "$m" -path "$m/.bltfs" -prune -o -type f -print | wc -l; }
shows_files() { [ "$(files)" = "$1" ]; }
# the_same: the mount's files are the keys the reference reads, and one
# value in ten is equal
the_same()
{
	at_rest
	lists_store "$a" "$m" || fail "the mount does not list the store's keys"
	"$PY" - "$a" "$m" <<'PY' || fail "the mount does not show the store"
import booklet, os, pickle, sys
store, mnt = sys.argv[1:]
with booklet.open(store, 'r') as db:
    want = dict(db.items())
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

taken() { status_get "$m" lock_taken; }
# untaken: the mount has not taken the lock since $taken
untaken()
{
	[ "$(taken)" = "$taken" ] ||
		fail "the mount took the lock to follow the pipeline: $(cat "$m/.bltfs/status")"
}

# The pipeline deletes 100 keys, writes a new one at the end of the file
# and prunes in place: the mount reads the pruned file again without the
# lock, and sweeps the names of the keys gone, without it too.
taken=$(taken)
reference "    for j in range(100):
        del db[f'd/k{j:04d}']
    db['d/late'] = 'LATE'
    db.prune()"
poll "a key the prune dropped still stats" absent "$m/d/k0000"
poll "the rescan did not end: $(cat "$m/.bltfs/status")" is_rescan none
[ "$(value "$m/d/late")" = LATE ] || fail "the key written before the prune"
[ "$(value "$m/d/k2999")" = 2999 ] || fail "a key kept by the prune does not read"
[ "$(files)" = 2901 ] || fail "after the prune the mount shows $(files) files"
[ "$(ls "$m/d" | wc -l)" = 2901 ] || fail "d lists $(ls "$m/d" | wc -l) names"
the_same
untaken
grep -q '"relaid_unlocked": [1-9]' "$m/.bltfs/status" &&
    grep -q '"keys_gone": [1-9]' "$m/.bltfs/status" ||
	fail "status counts no prune followed without the lock: $(cat "$m/.bltfs/status")"

# Another file put in the store's place (a backup restored, the pipeline
# writing a new store and renaming it over the old) is read again, with
# the lock, in steps, held after the first: meanwhile a key the index has
# not met yet reads through its path, the other keys read and list as
# before, and status says the rescan is under way.
cp "$a" "$tmp/new.blt"
ref_write "$tmp/new.blt" "    db['d/late2'] = 'LATE2'"
mv "$tmp/new.blt" "$a"
poll "no rescan started after another file was put in the store's place" \
    is_rescan reading
[ "$(value "$m/d/late2")" = LATE2 ] ||
	fail "a key the rescan has not reached does not read through its path"
[ "$(value "$m/d/k2999")" = 2999 ] || fail "a key of the new file does not read"
[ "$(ls "$m/d" | wc -l)" -ge 2900 ] || fail "the listing of d did not answer"
"$BLTFS" ctl "$m" status >"$tmp/st" || fail "bltfs ctl status during a rescan"
grep -q "rescan under way (reading the store)" "$tmp/st" ||
	fail "bltfs ctl status says: $(cat "$tmp/st")"
lazy_release
poll "the rescan did not end: $(cat "$m/.bltfs/status")" is_rescan none
[ "$(files)" = 2902 ] || fail "after the rescan the mount shows $(files) files"
the_same

# The pipeline clears the store and writes ten keys: the mount reads
# them without the lock, then sweeps the 2,902 names gone.
taken=$(taken)
reference "    db.clear()
    for j in range(10):
        db[f'c/k{j}'] = -j"
poll "the names of the keys cleared stay: $(files) files" shows_files 10
[ "$(value "$m/c/k3")" = -3 ] || fail "a key written after the clear"
poll "the rescan did not end: $(cat "$m/.bltfs/status")" is_rescan none
the_same
untaken

# A delete the dead blocks cannot show: the pipeline overwrites a key
# 3,000 times and writes c/z after them, then deletes c/z; the mount
# sweeps its names, without the lock.
reference "    for i in range(3000):
        db['c/k0'] = i
    db['c/z'] = 'Z'"
poll "c/z does not show" [ -e "$m/c/z" ]
sweeps=$(status_get "$m" followed sweeps)
reference "    del db['c/z']"
poll "the deleted key c/z still shows" absent "$m/c/z"
poll "the rescan did not end: $(cat "$m/.bltfs/status")" is_rescan none
[ "$(status_get "$m" followed sweeps)" -gt "$sweeps" ] ||
	fail "the delete was not swept: $(cat "$m/.bltfs/status")"
[ "$(value "$m/c/k0")" = 2999 ] || fail "c/k0 does not read its last value"
the_same
untaken

# Keys the pipeline appended and synced, which the mount read while the
# pipeline held the store, are no delete once it closes: no sweep of
# every name, and no lock taken.
sweeps=$(status_get "$m" followed sweeps)
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
at_rest
poll "the rescan did not end: $(cat "$m/.bltfs/status")" is_rescan none
[ "$(status_get "$m" followed sweeps)" = "$sweeps" ] ||
	fail "appends read without the lock started a sweep: $(cat "$m/.bltfs/status")"
the_same
untaken

# A delete and a put between two looks of the mount leave the store's
# count as it was: the deleted key's name goes all the same, while the
# pipeline still holds the store.
at_rest
"$PY" - "$a" "$m" <<'PY' || fail "a delete beside a put did not show (above)"
import booklet, os, sys, time
store, mnt = sys.argv[1:]
with booklet.open(store, 'w') as db:
    del db['p/k0']
    db['p/new'] = 'NEW'
    db.sync()
    end = time.monotonic() + 60
    while True:
        names = os.listdir(f'{mnt}/p')
        if 'k0' not in names and 'new' in names:
            break
        assert time.monotonic() < end, \
            f'p lists {sorted(names)[:3]}, p/k0 deleted and p/new put'
        time.sleep(0.05)
PY
the_same
untaken
bltfs_umount "$m"
