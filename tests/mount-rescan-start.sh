#!/bin/sh
# A rescan started while a sweep step is under way without the lock is
# made, not lost (issue 66).  A rescan is stepped by the mount's follow
# thread alone, but started by whichever thread's hold found the change,
# often a request's.  Here the sweep of a key another process deleted is
# held after its first step (BLTFS_SWEEP_HOLD); meanwhile the pipeline puts
# late/k, which the held thread cannot follow, and blt prune puts a new
# file in the store's place; a write through the mount takes the lock,
# finds the new file and starts a rescan that reads every key.  The sweep
# then goes on, and its end used to set the rescan state back to none
# over that start: late/k was never shown.
. "${top_srcdir:-$(dirname "$0")/..}/tests/lib.sh"
need_reference

s=$tmp/s.blt
m=$tmp/m
ref_new "$s" bytes "    db['z'] = b'z'
    db['keep'] = b'k'
    for i in range(10):
        db[f'd{i}/f'] = b'f'"

sweep_held_mount "$s" "$m" 8
ref_write "$s" "    del db['z']"
sweep_held
# while the sweep is held: a put the held thread cannot follow, and a
# new file in the store's place
ref_write "$s" "    db['late/k'] = b'L'"
"$BLT" prune "$s" >/dev/null || fail "blt prune failed"
# a write through the mount takes the lock and finds the new file
echo w >"$m/w" || fail "a write through the mount failed"
# the sweep goes on, and so does the rescan, whose own sweep holds too
lazy_release xx
is_none() { [ "$(status_get "$m" followed rescan)" = none ]; }
poll "the rescan did not end: $(cat "$m/.bltfs/status")" is_none
[ "$(cat "$m/late/k" 2>&1)" = L ] ||
	fail "late/k is not shown: $(cat "$m/late/k" 2>&1); $(cat "$m/.bltfs/status")"
got=$(cd "$m" && find . -path ./.bltfs -prune -o -type f -print | sort |
	tr '\n' ' ')
want="./d0/f ./d1/f ./d2/f ./d3/f ./d4/f ./d5/f ./d6/f ./d7/f ./d8/f ./d9/f ./keep ./late/k ./w "
[ "$got" = "$want" ] || fail "the mount shows: $got"
bltfs_umount "$m"
check_store "$s"
echo "mount-rescan-start: ok"
