#!/bin/sh
# Names of the mount at the limit: one of 255 bytes is a file like any
# other, and one of 256 bytes is ENAMETOOLONG for every call that looks
# it up (stat, open, truncate, unlink, rmdir, chmod, rename), as on a
# local file system, never ENOENT (pjdfstest */02.t).
. "${top_srcdir:-$(dirname "$0")/..}/tests/lib.sh"

m=$tmp/m
bltfs_mount "$tmp/s.blt" "$m"
n255=$(printf '%0255d' 0)
n256=$(printf '%0256d' 0)

printf 'at the limit\n' >"$m/$n255" || fail "a name of 255 bytes cannot be made"
[ "$(cat "$m/$n255")" = "at the limit" ] || fail "a name of 255 bytes reads wrong"

# too_long WHAT CMD...: CMD fails with "File name too long"
too_long()
{
	what=$1
	shift
	if "$@" 2>"$tmp/err"; then
		fail "$what of a name of 256 bytes succeeded"
	fi
	grep -q "File name too long" "$tmp/err" ||
		fail "$what of a name of 256 bytes: $(cat "$tmp/err"), not ENAMETOOLONG"
}

too_long stat stat "$m/$n256"
too_long cat cat "$m/$n256"
too_long create sh -c "printf x >'$m/$n256'"
too_long truncate truncate -s 0 "$m/$n256"
too_long unlink rm "$m/$n256"
too_long rmdir rmdir "$m/$n256"
too_long mkdir mkdir "$m/$n256"
too_long chmod chmod 0600 "$m/$n256"
too_long rename mv "$m/$n255" "$m/$n256"
[ -f "$m/$n255" ] || fail "a failed rename lost its source"

bltfs_umount "$m"
"$BLT" get "$tmp/s.blt" "$n255" | grep -q "at the limit" ||
	fail "the file of 255 bytes is not in the store"
