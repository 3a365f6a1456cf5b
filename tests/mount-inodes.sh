#!/bin/sh
# Inode numbers are a hash of where a node stands (fs/index/ino.c), so every
# path keeps its st_ino from one mount to the next, whatever other keys
# were added, removed or rewritten, and after a prune: an incremental tar
# (--listed-incremental) of a remounted store takes what changed and
# nothing more.  Within a mount a renamed file keeps its number, and a new
# file in its old place gets another.  df -i counts the keys as used.
. "${top_srcdir:-$(dirname "$0")/..}/tests/lib.sh"

store=$tmp/s.blt
m=$tmp/m
mkdir "$m"
# Keys as a Python pipeline writes them: no directory markers, so each
# directory is known by its keys, and gone with the first of them from the
# start of the scan when that key is rewritten.
"$BLT" create "$store"
for k in a/1 a/2 b/c/1 b/c/2 top d/e/f; do
	printf '%s\n' "$k" | "$BLT" put "$store" "$k"
done

# numbers FILE: "INODE PATH" of everything in the mount, by path.
numbers()
{
	(cd "$m" && find . -printf '%i %p\n') | LC_ALL=C sort -k2 >"$1"
}

bltfs_mount "$store" "$m"
# df -i: the keys are the inodes used, and there are free ones (it said
# 100% used: no free inodes at all).
[ "$(df -iP "$m" | awk 'NR == 2 { print $3 }')" = 6 ] ||
	fail "df -i: $(df -i "$m")"
[ "$(stat -f -c %d "$m")" -gt 0 ] || fail "free inodes: $(df -i "$m")"
[ "$(($(stat -f -c '%c - %d' "$m")))" = 6 ] || fail "df -i: $(df -i "$m")"
numbers "$tmp/n0"
tar -C "$m" -g "$tmp/snap" --no-check-device -cf "$tmp/l0.tar" .
printf 'new\n' >"$m/a/1" # the scan's first key moves to its end
rm "$m/b/c/1"
printf 'new\n' >"$m/z"
bltfs_umount "$m"
"$BLT" prune "$store" >/dev/null

bltfs_mount "$store" "$m"
numbers "$tmp/n1"
awk 'NR == FNR { before[$2] = $1; next }
	($2 in before) && before[$2] != $1 {
		print $2 ": inode " before[$2] ", then " $1; bad = 1
	}
	END { exit bad }' "$tmp/n0" "$tmp/n1" >"$tmp/moved" ||
	fail "inode numbers changed on a remount: $(cat "$tmp/moved")"
[ "$(cut -d' ' -f1 "$tmp/n1" | sort | uniq -d)" = "" ] ||
	fail "two paths share an inode number: $(cat "$tmp/n1")"
# st_dev changes with every mount, as for any FUSE or NFS mount; tar is
# told not to compare it
tar -C "$m" -g "$tmp/snap" --no-check-device -cvf "$tmp/l1.tar" . \
    >"$tmp/l1.list"
grep -v '/$' "$tmp/l1.list" | LC_ALL=C sort >"$tmp/l1.files"
printf './a/1\n./z\n' >"$tmp/want"
cmp -s "$tmp/want" "$tmp/l1.files" ||
	fail "the incremental dump is not just the changes: $(cat "$tmp/l1.files")"

# A rename keeps the number; a new file where the old one was gets another.
before=$(stat -c %i "$m/a/2")
mv "$m/a/2" "$m/moved"
[ "$(stat -c %i "$m/moved")" = "$before" ] ||
	fail "a rename changed the inode number"
printf 'again\n' >"$m/a/2"
[ "$(stat -c %i "$m/a/2")" != "$before" ] ||
	fail "a new file has the number of the renamed one"
# and so does a directory
before=$(stat -c %i "$m/d/e")
mv "$m/d/e" "$m/e2"
mkdir "$m/d/e"
[ "$(stat -c %i "$m/e2")" = "$before" ] ||
	fail "a directory rename changed its inode number"
[ "$(stat -c %i "$m/d/e")" != "$before" ] ||
	fail "a new directory has the number of the renamed one"
numbers "$tmp/n2"
[ "$(cut -d' ' -f1 "$tmp/n2" | sort | uniq -d)" = "" ] ||
	fail "two paths share an inode number: $(cat "$tmp/n2")"
bltfs_umount "$m"
check_store "$store"
