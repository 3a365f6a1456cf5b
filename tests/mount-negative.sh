#!/bin/sh
# A name the kernel was told is not there shows once another process puts
# it (issue 66).  The kernel keeps a lookup's "no such name" for the
# mount's entry timeout (a day), so a name the mount learns behind its
# back must be told to it where a lookup missed it; elsewhere the kernel
# has no entry to drop, and the mount tells it nothing (a write to
# /dev/fuse and the directory's lock a key, saved).  Looked up before the
# pipeline puts them: d/new (a file in a directory the mount has), n/new (a
# directory that is not there yet), d/gone (removed through the mount);
# not looked up: d/other, e/x.  Each shows in a read-write and a -o ro
# mount, with the value put.
. "${top_srcdir:-$(dirname "$0")/..}/tests/lib.sh"
need_reference

s=$tmp/s.blt
ref_new "$s" bytes "    db['d/old'] = b'old'
    db['d/gone'] = b'gone'"
bltfs_mount "$s" "$tmp/rw"
bltfs_mount "$s" "$tmp/ro" -o ro
rm "$tmp/rw/d/gone" || fail "rm d/gone through the mount failed"
for m in rw ro; do
	for p in d/new n/new n d/gone; do
		! stat "$tmp/$m/$p" >/dev/null 2>&1 || fail "$m: $p is there"
	done
	ls "$tmp/$m/d" >/dev/null
done
store_let_go "$s"
ref_write "$s" "    for k in ('d/new', 'd/other', 'n/new', 'e/x', 'd/gone'):
        db[k] = k.encode()"

for m in rw ro; do
	for p in d/new d/other n/new e/x d/gone; do
		shows() { [ "$(cat "$tmp/$m/$p" 2>/dev/null)" = "$p" ]; }
		poll "$m: $p does not show" shows
	done
	got=$(ls "$tmp/$m/d" | tr '\n' ' ')
	[ "$got" = "gone new old other " ] || fail "$m: d lists $got"
done
bltfs_umount "$tmp/ro"
bltfs_umount "$tmp/rw"
check_store "$s"
echo "mount-negative: ok"
