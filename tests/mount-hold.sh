#!/bin/sh
# A file being stored at close holds up no one else.  The preloaded
# tests/crashpoint.so holds the daemon's write of a big file's value into
# the store; meanwhile other files are read by the daemon, created,
# renamed and removed, and a job runs.  (The file itself is not read
# meanwhile: the kernel shares the writer's cached pages with every
# reader, as on any file system.)  A rename or unlink of the file being
# stored decides where its value ends up.  A step that waits for the held
# write fails the test (see within()).
. "${top_srcdir:-$(dirname "$0")/..}/tests/lib.sh"

CRASHPOINT=$top_builddir/tests/crashpoint.so
[ -f "$CRASHPOINT" ] || { echo "not built: $CRASHPOINT" >&2; exit 99; }
# a daemon built with AddressSanitizer wants its runtime loaded first
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0"

head -c 8000000 /dev/urandom >"$tmp/big"
store=$tmp/s.blt
m=$tmp/m
hold=$tmp/hold

# mount_holding: mount the store with a daemon that holds its first write
# of 64 KiB or more to the store (a piece of a big value) until release
mount_holding()
{
	rm -f "$hold.held" "$hold.go"
	mkfifo "$hold.held" "$hold.go"
	printf '#!/bin/sh\nBLT_HOLD_BYTES=65536 BLT_HOLD_FILE=%s BLT_HOLD_FIFO=%s LD_PRELOAD=%s exec %s "$@"\n' \
	    "$(realpath "$store")" "$hold" "$CRASHPOINT" "$BLTFS" >"$tmp/bltfs-hold"
	chmod +x "$tmp/bltfs-hold"
	real=$BLTFS
	BLTFS=$tmp/bltfs-hold
	bltfs_mount "$store" "$m"
	BLTFS=$real
}

# copy_held NAME: copy the big file to NAME in the mount, in the
# background, and return once the daemon holds the write of its value.
# When cp ends the copier leaves its status in $tmp/copied and a line on
# the FIFO, opened read-write so that it never waits for a reader: that
# line ends the wait here if the daemon never held the write.
copy_held()
{
	rm -f "$tmp/copied"
	(
		st=0
		cp "$tmp/big" "$m/$1" || st=$?
		echo "$st" >"$tmp/copied"
		echo copied 1<>"$hold.held"
	) &
	copier=$!
	read -r line <"$hold.held"
	[ "$line" = held ] || fail "the daemon did not hold the write of $1"
}

# release: let the held write go on and wait for the copy
release()
{
	echo go >"$hold.go"
	wait "$copier"
	[ "$(cat "$tmp/copied")" = 0 ] || fail "cp into the mount failed"
}

# within DESCRIPTION COMMAND...: COMMAND must finish while the write is
# held.  A request the daemon has taken cannot be interrupted, not even by
# SIGKILL, so a step that waits for the held write would hang the test: a
# watchdog lets the write go after 60 s, the step then ends, and the test
# fails.  The step and the watchdog each say on a pipe when they are done,
# and the first line read decides.  The watchdog is killed once the step
# is done, but a signal that reaches a subshell before it has set its trap
# can be lost (dash), and the watchdog then goes on: its line goes to a
# pipe nobody reads any more, which is harmless.
within()
{
	what=$1
	shift
	rm -f "$tmp/events"
	mkfifo "$tmp/events"
	exec 8<>"$tmp/events" # read-write: writers never wait for a reader
	rm -f "$tmp/events"
	(
		st=0
		"$@" 8>&- || st=$?
		echo "done $st" >&8
	) &
	step=$!
	(
		trap 'kill "$nap" 2>/dev/null; exit 0' TERM
		sleep 60 8>&- &
		nap=$!
		wait "$nap"
		echo late >&8
	) &
	dog=$!
	read -r event st <&8
	if [ "$event" = late ]; then
		hold_stacks "$step" >&2
		echo go >"$hold.go"
		read -r event st <&8
		fail "$what: held up by a file being stored"
	fi
	kill "$dog" 2>/dev/null || true
	exec 8<&-
	[ "$st" = 0 ] || fail "$what: failed ($st)"
}

# hold_stacks PID: where the step PID (a subshell, and what it runs) and
# the daemon's threads wait
hold_stacks()
{
	dpid=$(tail -n 1 "$daemons")
	dpid=${dpid%% *}
	kids=$(cat /proc/"$1"/task/*/children 2>/dev/null || true)
	for p in "$1" $kids; do
		set -- "$@" /proc/"$p" /proc/"$p"/task/*
	done
	shift
	for t in "$@" /proc/"$dpid"/task/*; do
		[ -d "$t" ] || continue
		echo "== $t: $(cat "$t/comm" 2>/dev/null) $(cat "$t/wchan" 2>/dev/null)"
		cat "$t/stack" 2>/dev/null || true
	done
}

# 1. Everything else goes on while the value is written.
bltfs_mount "$store" "$m"
mkdir "$m/d"
for i in 1 2 3 4 5; do
	echo "value $i" >"$m/d/f$i"
done
echo old >"$m/big"
bltfs_umount "$m"
mount_holding
copy_held big
# O_DIRECT, so that the daemon reads each file from the store
within "a read of another file" \
	sh -c '[ "$(dd if="$1" iflag=direct bs=4096 2>/dev/null)" = "value 1" ]' \
	sh "$m/d/f1"
within "a new file" sh -c 'echo new >"$1"' sh "$m/d/new"
within "a rename" mv "$m/d/f2" "$m/d/g2"
within "an unlink" rm "$m/d/f3"
within "a mkdir" mkdir "$m/e"
within "a job" sh -c '"$1" ctl "$2" sync --wait >/dev/null 2>&1' sh "$BLTFS" "$m"
release
cmp "$tmp/big" "$m/big" || fail "big differs after the held write"
[ "$(cat "$m/d/new")" = new ] || fail "d/new lost"
[ "$(cat "$m/d/g2")" = "value 2" ] || fail "d/g2 lost"
[ ! -e "$m/d/f2" ] && [ ! -e "$m/d/f3" ] || fail "d/f2 or d/f3 came back"
bltfs_umount "$m"

# 2. The file being stored is renamed meanwhile: its value goes with the
# name it has when the write ends.
mount_holding
copy_held big2
within "a rename of the file being stored" mv "$m/big2" "$m/moved"
release
[ ! -e "$m/big2" ] || fail "big2 exists after its rename"
cmp "$tmp/big" "$m/moved" || fail "moved differs"
bltfs_umount "$m"

# 3. The file being stored is removed meanwhile: its writes are dropped,
# as for any file removed before it is closed.
mount_holding
copy_held big3
within "an unlink of the file being stored" rm "$m/big3"
release
[ ! -e "$m/big3" ] || fail "big3 came back after its unlink"
bltfs_umount "$m"

# All of it after a remount, and the store sound.
bltfs_mount "$store" "$m"
cmp "$tmp/big" "$m/big" || fail "big differs after a remount"
cmp "$tmp/big" "$m/moved" || fail "moved differs after a remount"
[ ! -e "$m/big2" ] && [ ! -e "$m/big3" ] || fail "big2 or big3 came back"
[ "$(ls "$m/d")" = "$(printf '%s\n' f1 f4 f5 g2 new)" ] ||
	fail "d/ holds $(ls "$m/d")"
bltfs_umount "$m"
check_store "$store"
echo "mount-hold: ok"
