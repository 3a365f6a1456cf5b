#!/bin/sh
# A directory that another process emptied goes from the mount, as it
# would from a remount (issue 66): it was there only for the keys below
# it.  The pipeline deletes every key of a/b and of x/y (x has nothing
# else), and the file of made, a directory made through the mount (its
# marker key went with its first file).  kept, an empty directory made
# through the mount, stays: its marker key keeps it.  The mount used to
# list a/b, x, x/y and made, empty, until it was mounted again.
. "${top_srcdir:-$(dirname "$0")/..}/tests/lib.sh"
need_reference

s=$tmp/s.blt
m=$tmp/m
ref_new "$s" bytes "    db['a/b/c'] = b'c'
    db['a/b/d'] = b'd'
    db['a/e'] = b'e'
    db['x/y/z'] = b'z'
    db['top'] = b't'"
bltfs_mount "$s" "$m"
mkdir "$m/kept" "$m/made" || fail "mkdir through the mount failed"
echo f >"$m/made/f" || fail "writing made/f through the mount failed"
# the kernel holds the directories and their listings
ls -R "$m" >/dev/null
store_let_go "$s"
ref_write "$s" "    del db['a/b/c']
    del db['a/b/d']
    del db['x/y/z']
    del db['made/f']"

tree() { (cd "$m" && find . -path ./.bltfs -prune -o -print | sort | tr '\n' ' '); }
want='. ./a ./a/e ./kept ./top '
shown() { [ "$(tree)" = "$want" ]; }
poll "the mount shows $(tree), not $want" shown
for d in a/b x/y x made; do
	! stat "$m/$d" 2>/dev/null || fail "$d is still there"
done
ls "$m/a" | grep -qx b && fail "a lists b"
# the mount itself can make them again
mkdir -p "$m/x/y" || fail "mkdir -p x/y through the mount failed"
rmdir "$m/x/y" "$m/x" || fail "rmdir of x/y and x failed"
bltfs_umount "$m"
check_store "$s"

# a remount shows what the mount showed
bltfs_mount "$s" "$m"
shown || fail "after a remount, the mount shows $(tree), not $want"
bltfs_umount "$m"
echo "mount-emptied: ok"
