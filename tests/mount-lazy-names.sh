#!/bin/sh
# -o lazy: once the build's first pass has found every directory, a lookup
# answers every name at once, though the files are not in the index yet.
# The name must be a key (the store's hash index says so), a directory, or
# nothing (ENOENT).  A name the index maps to a key in any other way would
# wrongly be nothing until the build ends.  So the test holds the second
# pass (BLTFS_LAZY_HOLD, a byte per pass) and checks the fixtures whose keys
# are hardest to name by lookup alone (mount_check -L): escapes, bytes that
# are not UTF-8, pieces of names over 255 bytes, paths past PATH_MAX, keys
# that are directories too (as their directories' PATH_SELF files).
. "${top_srcdir:-$(dirname "$0")/..}/tests/lib.sh"

m=$tmp/m
lazy_hold
for name in tricky_keys tricky_bytes_keys; do
	lazy_held_mount "$FIXTURES_DIR/$name.blt" "$m" -o ro,lazy,noindex_cache
	lazy_release # the first pass ends; the second holds after its first batch
	poll "$name: the first pass did not end" dirs_known "$m"
	"$MOUNT_CHECK" -L "$FIXTURES_DIR/$name.json" "$m" >"$tmp/check.out" || {
		head -n 40 "$tmp/check.out" >&2
		fail "$name: a name does not answer by lookup in the second pass"
	}
	if cat "$m/no such key" 2>"$tmp/err"; then
		fail "$name: cat of a missing key succeeded"
	fi
	grep -q "No such file" "$tmp/err" || fail "$name: $(cat "$tmp/err")"
	[ "$(status_get "$m" index state)" = building ] ||
		fail "$name: the second pass was not held"
	lazy_release
	bltfs_umount "$m"
done
echo "mount-lazy-names: ok"
