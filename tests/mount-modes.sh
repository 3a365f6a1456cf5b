#!/bin/sh
# Modes and owners given at create, mkdir, chmod and chown are kept for the
# life of the mount, and with -o allow_other the kernel enforces them: a
# file its maker created 0600 is theirs alone, and in a sticky directory
# only a file's owner removes it.  allow_other without umask=
# shows what the store held before the mount as its owner's alone (0600,
# 0700).  A remount shows the mount's modes again.  A file never shows x.
. "${top_srcdir:-$(dirname "$0")/..}/tests/lib.sh"

store=$tmp/s.blt
m=$tmp/m
"$BLT" create "$store"
printf 'from before the mount\n' | "$BLT" put "$store" old
printf 'deep\n' | "$BLT" put "$store" dir/deep

# A plain mount: only its owner enters, the kernel checks nothing, and a
# chmod is kept (it used to be refused, or accepted and not kept).
bltfs_mount "$store" "$m"
[ "$(stat -c %a "$m" "$m/old" "$m/dir" | tr '\n' ' ')" = "755 644 755 " ] ||
	fail "default modes: $(stat -c %a "$m" "$m/old" "$m/dir")"
chmod 0600 "$m/old"
chmod 0700 "$m/dir"
[ "$(stat -c %a "$m/old" "$m/dir" | tr '\n' ' ')" = "600 700 " ] ||
	fail "a chmod was not kept: $(stat -c %a "$m/old" "$m/dir")"
chmod 0755 "$m/old" # no file runs from the mount: x is never shown
[ "$(stat -c %a "$m/old")" = 644 ] || fail "chmod 0755: $(stat -c %a "$m/old")"
(umask 077 && printf 'new\n' >"$m/new" && mkdir "$m/newdir")
[ "$(stat -c %a "$m/new" "$m/newdir" | tr '\n' ' ')" = "600 700 " ] ||
	fail "create and mkdir with umask 077: $(stat -c %a "$m/new" "$m/newdir")"
mv "$m/new" "$m/dir/moved"
[ "$(stat -c %a "$m/dir/moved")" = 600 ] || fail "a rename lost the mode"
# open(O_CREAT) of an existing file keeps its mode
python3 -c 'import os, sys; os.close(os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT, 0o666))' "$m/dir/moved"
[ "$(stat -c %a "$m/dir/moved")" = 600 ] || fail "O_CREAT changed the mode"
bltfs_umount "$m"
# ... for the mount's life: the store keeps no modes
bltfs_mount "$store" "$m"
[ "$(stat -c %a "$m/old" "$m/dir/moved" | tr '\n' ' ')" = "644 644 " ] ||
	fail "modes after a remount: $(stat -c %a "$m/old" "$m/dir/moved")"
bltfs_umount "$m"

syspy=/usr/bin/python3
if [ "$(id -u)" != 0 ] || ! command -v setpriv >/dev/null; then
	echo "not root, or no setpriv: the checks with other users are skipped" >&2
	exit 0
fi
for user in bltfs-test bltfs-test2; do
	id "$user" >/dev/null 2>&1 ||
		useradd -M -r -s /usr/sbin/nologin "$user" 2>/dev/null ||
		useradd -M "$user"
done
ua=$(id -u bltfs-test)
ga=$(id -g bltfs-test)
ub=$(id -u bltfs-test2)
gb=$(id -g bltfs-test2)
as_a()
{
	setpriv --reuid="$ua" --regid="$ga" --clear-groups "$@"
}
as_b()
{
	setpriv --reuid="$ub" --regid="$gb" --clear-groups "$@"
}
chmod 755 "$tmp" # the other users must reach the mount

# allow_other without umask=: what the store held is its owner's alone
bltfs_mount "$store" "$m" -o allow_other
[ "$(stat -c %a "$m" "$m/old" "$m/dir" | tr '\n' ' ')" = "700 600 700 " ] ||
	fail "allow_other's default modes: $(stat -c %a "$m" "$m/old" "$m/dir")"
as_a ls "$m" >/dev/null 2>&1 && fail "another user listed a root of mode 0700"
chmod 0755 "$m"
as_a ls "$m" >/dev/null || fail "another user cannot list the root after chmod 0755"
as_a cat "$m/old" >/dev/null 2>&1 && fail "another user read a file of mode 0600"
mkdir "$m/shared"
chmod 0777 "$m/shared"

# A file user A made 0600 is A's alone; one made 0644 others read, until
# A takes that away.
as_a sh -c "umask 077 && printf 'secret\n' >'$m/shared/a'" ||
	fail "user A cannot create a file"
[ "$(stat -c '%a %u %g' "$m/shared/a")" = "600 $ua $ga" ] ||
	fail "A's file: $(stat -c '%a %u %g' "$m/shared/a")"
[ "$(as_a cat "$m/shared/a")" = secret ] || fail "A cannot read A's file"
as_b cat "$m/shared/a" >/dev/null 2>&1 && fail "B read A's file of mode 0600"
as_b sh -c "printf x >>'$m/shared/a'" 2>/dev/null && fail "B wrote A's file"
as_a sh -c "umask 022 && printf 'public\n' >'$m/shared/p'"
[ "$(as_b cat "$m/shared/p")" = public ] || fail "B cannot read A's 0644 file"
as_b chmod 0666 "$m/shared/p" 2>/dev/null && fail "B changed the mode of A's file"
as_a chmod 0600 "$m/shared/p"
as_b cat "$m/shared/p" >/dev/null 2>&1 && fail "B read A's file after chmod 0600"
[ "$(as_a cat "$m/shared/p")" = public ] || fail "A cannot read A's file after chmod"
as_a mv "$m/shared/p" "$m/shared/p2"
[ "$(stat -c '%a %u' "$m/shared/p2")" = "600 $ua" ] ||
	fail "a rename lost mode or owner: $(stat -c '%a %u' "$m/shared/p2")"
as_b cat "$m/shared/p2" >/dev/null 2>&1 && fail "B read A's file after a rename"
as_a mkdir -m 0700 "$m/shared/adir"
as_a sh -c "printf in >'$m/shared/adir/f'"
as_b ls "$m/shared/adir" >/dev/null 2>&1 && fail "B listed A's directory of mode 0700"
# root gives a file away; the kernel lets only root do so
chown "$ub:$gb" "$m/shared/p2"
[ "$(as_b cat "$m/shared/p2")" = public ] || fail "B cannot read the file given to B"
as_b chown "$ua" "$m/shared/p2" 2>/dev/null && fail "B gave a file away"
cat "$m/shared/a" >/dev/null || fail "root cannot read A's file"

# A sticky directory (/tmp's mode, issue 40): anyone writes in it, only a
# file's owner removes or renames it; the bit used to be dropped.
mkdir "$m/sticky"
chmod 1777 "$m/sticky"
[ "$(stat -c %a "$m/sticky")" = 1777 ] ||
	fail "chmod 1777: $(stat -c %a "$m/sticky")"
printf 'root\n' >"$m/sticky/r"
as_a sh -c "printf 'a\n' >'$m/sticky/a'" || fail "A cannot create in 1777"
as_a rm -f "$m/sticky/r" 2>/dev/null && fail "A removed root's file in 1777"
as_a mv "$m/sticky/r" "$m/sticky/r2" 2>/dev/null && fail "A renamed root's file"
as_b rm -f "$m/sticky/a" 2>/dev/null && fail "B removed A's file in 1777"
[ "$(cat "$m/sticky/r" "$m/sticky/a" | tr '\n' ' ')" = "root a " ] ||
	fail "the files of a sticky directory changed"
as_a mv "$m/sticky/a" "$m/sticky/a2" || fail "A cannot rename A's file"
as_a rm "$m/sticky/a2" || fail "A cannot remove A's file"
as_a mkdir -m 1777 "$m/sticky/d" || fail "A cannot mkdir 1777"
[ "$(stat -c %a "$m/sticky/d")" = 1777 ] ||
	fail "mkdir 1777: $(stat -c %a "$m/sticky/d")"
mv "$m/sticky" "$m/sticky2" # the bit follows the node
[ "$(stat -c %a "$m/sticky2")" = 1777 ] || fail "a rename lost the sticky bit"
chmod 0777 "$m/sticky2"
as_a rm -f "$m/sticky2/r" || fail "A cannot remove in 0777"
bltfs_umount "$m"

# The modes do not survive a remount: allow_other shows 0600 again, and
# umask= says what to share.
bltfs_mount "$store" "$m" -o allow_other
[ "$(stat -c '%a %u' "$m/shared/a")" = "600 0" ] ||
	fail "A's file after a remount: $(stat -c '%a %u' "$m/shared/a")"
bltfs_umount "$m"
bltfs_mount "$store" "$m" -o allow_other,umask=022
[ "$(as_b cat "$m/shared/a")" = secret ] ||
	fail "B cannot read with umask=022"
bltfs_umount "$m"
check_store "$store"
