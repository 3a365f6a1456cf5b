#!/bin/sh
# A directory rename that a crash interrupts loses no key: the daemon is
# killed at each of the writes a rename of a directory makes in turn (the
# preloaded tests/crashpoint.so SIGKILLs it just before write N), and after
# each crash a remount must show every file under its old name, its new
# name or both, intact, and blt check must pass.
. "${top_srcdir:-$(dirname "$0")/..}/tests/lib.sh"

CRASHPOINT=$top_builddir/tests/crashpoint.so
[ -f "$CRASHPOINT" ] || { echo "not built: $CRASHPOINT" >&2; exit 99; }
# a daemon built with AddressSanitizer wants its runtime loaded first
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0"

# old/ holds files, a subdirectory and an empty directory
m=$tmp/m
store0=$tmp/s0.blt
bltfs_mount "$store0" "$m"
mkdir -p "$m/old/sub" "$m/old/empty" "$m/other"
i=0
while [ $i -lt 30 ]; do
	echo "value $i" >"$m/old/f$i"
	i=$((i + 1))
done
echo "deep" >"$m/old/sub/g"
echo "stays" >"$m/other/h"
bltfs_umount "$m"

# what the rename must keep: each file's name below old/ and its content
expect_old()
{
	i=0
	while [ $i -lt 30 ]; do
		echo "f$i value $i"
		i=$((i + 1))
	done
	echo "sub/g deep"
}

# check_moved N: after the crash at write N, every file is somewhere
check_moved()
{
	expect_old | while read -r name want; do
		found=0
		for dir in old new; do
			[ -e "$m/$dir/$name" ] || continue
			got=$(cat "$m/$dir/$name")
			[ "$got" = "$want" ] ||
				fail "crash at write $1: $dir/$name holds '$got'"
			found=1
		done
		[ "$found" = 1 ] || fail "crash at write $1: $name is lost"
	done
	[ "$(cat "$m/other/h")" = stays ] ||
		fail "crash at write $1: other/h changed"
	[ -d "$m/old/empty" ] || [ -d "$m/new/empty" ] ||
		fail "crash at write $1: the empty directory is lost"
}

# bltfs_crashing N STORE: mount STORE with a daemon that dies before its
# write N (0: never; its count of writes goes to $tmp/count at exit).  Sets
# $up to 1 if the mount came up.
bltfs_crashing()
{
	printf '#!/bin/sh\nBLT_KILL_AT=%s BLT_COUNT_TO=%s LD_PRELOAD=%s exec %s "$@"\n' \
	    "$1" "$tmp/count" "$CRASHPOINT" "$BLTFS" >"$tmp/bltfs-crash"
	chmod +x "$tmp/bltfs-crash"
	real=$BLTFS
	BLTFS=$tmp/bltfs-crash
	bltfs_start "$2" "$m"
	BLTFS=$real
	up=$(head -c 1 "$tmp/ready")
	mv "$tmp/log.start" "$tmp/log.$pid"
	echo "$pid $m" >>"$daemons"
}

# bltfs_gone MNT: unmount MNT whether its daemon is alive or not, and wait
# for the daemon.
bltfs_gone()
{
	line=$(grep " $1\$" "$daemons" | tail -n 1)
	gpid=${line%% *}
	if is_mounted "$1"; then
		fusermount3 -u "$1" 2>/dev/null || fusermount3 -uz "$1"
	fi
	bltfs_reap "$gpid"
}

# How many writes the daemon makes: mount, the rename, unmount.
cp "$store0" "$tmp/s.blt"
bltfs_crashing 0 "$tmp/s.blt"
[ "$up" = 1 ] || fail "the counting daemon did not mount"
mv "$m/old" "$m/new"
bltfs_umount "$m"
total=$(cat "$tmp/count")
[ "$total" -gt 2 ] || fail "the rename made only $total writes"

n=1
while [ "$n" -le "$total" ]; do
	cp "$store0" "$tmp/s.blt"
	bltfs_crashing "$n" "$tmp/s.blt"
	if [ "$up" = 1 ]; then
		mv "$m/old" "$m/new" 2>/dev/null || true
	fi
	# killed, or it lives to the unmount, where write N may fall
	bltfs_gone "$m"
	bltfs_mount "$tmp/s.blt" "$m"
	check_moved "$n"
	bltfs_umount "$m"
	check_store "$tmp/s.blt"
	n=$((n + 1))
done
echo "killed a directory rename at each of its $total writes"
