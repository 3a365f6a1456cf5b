#!/bin/sh
# A cp -r of many files into a mount that nobody else uses stores every
# one of them.  The mount's thread took the names of files created and not
# closed yet for names of keys another process had deleted (the index held
# more names than the store had keys), swept every name for them, and
# dropped the name of a file whose create had not yet put its open file
# in the set: that file's writes were lost at its close, and cp said
# nothing (3 of 100,000 files, in bench_fs.sh's cp -r).  The sweeps
# themselves must not start: status counts none.
. "${top_srcdir:-$(dirname "$0")/..}/tests/lib.sh"

src=$tmp/src
mkdir "$src"
for d in $(seq 20); do
	mkdir "$src/d$d"
	for f in $(seq 150); do
		echo "$d/$f" >"$src/d$d/f$f"
	done
done
s=$tmp/s.blt
bltfs_mount "$s" "$tmp/m"
cp -r "$src/." "$tmp/m/"
[ "$(status_get "$tmp/m" followed sweeps)" = 0 ] ||
	fail "the mount swept its names for a cp: $(cat "$tmp/m/.bltfs/status")"
bltfs_umount "$tmp/m"
check_store "$s"
bltfs_mount "$s" "$tmp/m"
same_tree "$src" "$tmp/m"
bltfs_umount "$tmp/m"
echo "mount-cp-many: ok"
