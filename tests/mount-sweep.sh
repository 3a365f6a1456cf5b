#!/bin/sh
# A sweep of the names of keys another process deleted keeps each
# directory it will list until it lists it (issue 66).  It walks the tree
# in steps, with no lock held between them, and used to keep bare node
# numbers: a directory removed meanwhile and freed was then listed from
# freed memory (tests/mount-fsx.sh under AddressSanitizer).  Here the
# sweep is held after its first step, which lists the root and meets the
# directories zz and d0 to d9 (BLTFS_SWEEP_HOLD, BLTFS_FOLLOW_STEP=15:
# ".", "..", keep, z and the eleven); meanwhile d0 to d9 are removed
# through the mount, and the kernel lets go of their nodes.  Then the
# sweep goes on, and lists them: under AddressSanitizer, a read of freed
# memory fails the daemon and this test.  The mount ends showing what the
# store holds: not zz, whose last key another process deleted.
. "${top_srcdir:-$(dirname "$0")/..}/tests/lib.sh"
need_reference

s=$tmp/s.blt
m=$tmp/m
ref_new "$s" bytes "    db['z'] = b'z'
    db['keep'] = b'k'
    db['zz/y'] = b'y'
    for i in range(10):
        db[f'd{i}/f'] = b'f'"

sweep_held_mount "$s" "$m" 15
# the pipeline deletes z and zz/y: the store counts two keys fewer than
# the names
ref_write "$s" "    del db['z']
    del db['zz/y']"
sweep_held
rm -r "$m"/d? || fail "rm -r of the directories failed"
# the kernel lets go of the nodes it looked up for that: forgets, which
# it sends between other requests, and which free them
echo 2 >/proc/sys/vm/drop_caches 2>/dev/null || true
for i in 1 2 3 4 5 6 7 8 9 10; do
	stat "$m/keep" "$m" >/dev/null
done
lazy_release
is_none() { [ "$(status_get "$m" followed rescan)" = none ]; }
poll "the sweep did not end: $(cat "$m/.bltfs/status")" is_none
got=$(cd "$m" && find . -path ./.bltfs -prune -o -print | sort | tr '\n' ' ')
[ "$got" = ". ./keep " ] || fail "the mount shows: $got"
bltfs_umount "$m"
check_store "$s"
echo "mount-sweep: ok"
