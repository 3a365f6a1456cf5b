#!/bin/sh
# Every reference fixture mounted read-only, in place: each directory lists
# exactly the manifest's keys under their names, and each file has the
# value's bytes, size and timestamp.  Also: what a read-only mount refuses,
# two read-only mounts sharing a store, and mounts that must fail.
. "${top_srcdir:-$(dirname "$0")/..}/tests/lib.sh"

m=$tmp/m
for f in "$FIXTURES_DIR"/*.blt; do
	name=$(basename "$f" .blt)
	bltfs_mount "$f" "$m" -o ro
	"$MOUNT_CHECK" "$FIXTURES_DIR/$name.json" "$m" >"$tmp/check.out" || {
		head -n 40 "$tmp/check.out" >&2
		fail "$name: the mount differs from its manifest"
	}
	# statfs counts keys as the files used (all files less free ones)
	keys=$(($(stat -f -c '%c - %d' "$m")))
	want=$("$top_builddir/tests/manifest_dump" -k \
	    "$FIXTURES_DIR/$name.json" | wc -l)
	[ "$keys" = "$want" ] || fail "$name: statfs says $keys files, not $want"
	bltfs_umount "$m"
done

# -o flat: every key in the root; owner and modes from the options.
for name in tricky_keys small_str_bytes; do
	bltfs_mount "$FIXTURES_DIR/$name.blt" "$m" -o ro,flat,uid=123,gid=45,umask=077
	"$MOUNT_CHECK" -F "$FIXTURES_DIR/$name.json" "$m" >"$tmp/check.out" || {
		head -n 40 "$tmp/check.out" >&2
		fail "$name, flat: the mount differs from its manifest"
	}
	# only the pieces of names over 255 bytes are directories
	[ -z "$(find "$m" -mindepth 1 -type d ! -name '*‛+' | head -n 1)" ] ||
		fail "$name: a flat mount has directories"
	[ "$(stat -c '%u %g %a' "$m")" = "123 45 700" ] ||
		fail "root is $(stat -c '%u %g %a' "$m")"
	f=$(find "$m" -type f | head -n 1)
	[ "$(stat -c '%u %g %a' "$f")" = "123 45 600" ] ||
		fail "files are $(stat -c '%u %g %a' "$f")"
	bltfs_umount "$m"
done

# A read-only mount refuses every change, and shares the store with
# another read-only mount.
f=$FIXTURES_DIR/small_str_bytes.blt
bltfs_mount "$f" "$m" -o ro
bltfs_mount "$f" "$tmp/m2" -o ro
cmp "$m/top" "$tmp/m2/top"
for cmd in "touch $m/new" "mkdir $m/d" "rm $m/top" "mv $m/top $m/top2" \
    "truncate -s 0 $m/top" "sh -c 'echo x >>$m/top'"; do
	if eval "$cmd" 2>/dev/null; then
		fail "read-only mount allowed: $cmd"
	fi
done
bltfs_umount "$tmp/m2"
bltfs_umount "$m"

# Stores that cannot be opened fail the mount, with a message naming them.
bltfs_mount_fails "$tmp/missing.blt" "$m" -o ro
grep -q "missing.blt" "$tmp/err" || fail "no store name in: $(cat "$tmp/err")"
head -c 1000 /dev/urandom >"$tmp/junk.blt"
bltfs_mount_fails "$tmp/junk.blt" "$m"
grep -q "junk.blt" "$tmp/err" || fail "no store name in: $(cat "$tmp/err")"
cp "$f" "$tmp/locked.blt"
bltfs_mount "$tmp/locked.blt" "$m" -o exclusive
bltfs_mount_fails "$tmp/locked.blt" "$tmp/m2"
grep -q "locked.blt" "$tmp/err" || fail "no store name in: $(cat "$tmp/err")"
bltfs_umount "$m"

# Without -f the parent returns once the mount is up (or has failed), as
# mount(8) and /etc/fstab expect; the daemon lets go of the lock on exit.
if "$BLTFS" "$tmp/missing.blt" "$m" -o ro 2>"$tmp/err"; then
	fail "daemon mode mounted a missing store"
fi
grep -q "missing.blt" "$tmp/err" || fail "no store name in: $(cat "$tmp/err")"
"$BLTFS" "$tmp/locked.blt" "$m"
echo "0 $m" >>"$daemons" # unmounted by the trap if a check fails
[ -f "$m/top" ] ||
	fail "daemon mode: no file top"
fusermount3 -u "$m"
flock -w 120 -x "$tmp/locked.blt" true ||
	fail "the daemon kept the store locked after unmount"
forget_daemon 0

# Through mount(8) and mount.fuse3, as /etc/fstab mounts it (type
# fuse.bltfs there; here the "PROGRAM#STORE" form, since mount(8) runs its
# helpers with a fixed PATH that has no build directory in it).
if [ "$(id -u)" = 0 ] && command -v mount.fuse3 >/dev/null; then
	mount -t fuse "$BLTFS#$tmp/locked.blt" "$m" -o ro,nodev,umask=027
	echo "0 $m" >>"$daemons"
	[ "$(stat -c %a "$m/top")" = 640 ] || fail "mount(8): umask ignored"
	grep -qF "$tmp/locked.blt $m fuse.bltfs ro," /proc/self/mounts ||
		fail "mount(8): not in /proc/self/mounts as expected"
	umount "$m"
	flock -w 120 -x "$tmp/locked.blt" true ||
		fail "the daemon kept the store locked after umount"
	forget_daemon 0
	if mount -t fuse "$BLTFS#$tmp/missing.blt" "$m" -o ro 2>"$tmp/err"; then
		fail "mount(8) mounted a missing store"
	fi
	grep -q "missing.blt" "$tmp/err" || fail "mount(8): $(cat "$tmp/err")"
fi
