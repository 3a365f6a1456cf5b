# Sourced by the mount-*.sh tests: finds bltfs and the fixtures, makes a
# temporary directory, and mounts and unmounts for real.
#
# bltfs_mount starts the daemon in the foreground (-f) in the background of
# this shell and waits, without sleeping, for the byte it writes to
# -o ready_fd once the mount is up (or for the end of file it leaves if it
# fails).  bltfs_umount unmounts and waits for the daemon, whose exit status
# must be 0, so that a sanitizer or leak report fails the test.  The EXIT
# trap unmounts whatever is still mounted, also when a test fails: first
# what bind_mount bound (a bind mount of a FUSE mount would keep it, and
# its daemon, alive), then the FUSE mounts.
#
# make check sets top_builddir, top_srcdir and FIXTURES_DIR; the fallbacks
# let a test run by hand from the source tree.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
: "${top_srcdir:=$here/..}"
: "${top_builddir:=$top_srcdir}"
: "${FIXTURES_DIR:=$top_srcdir/tests/fixtures}"
BLTFS=$top_builddir/fs/bltfs
BLT=$top_builddir/src/blt/blt
MOUNT_CHECK=$top_builddir/tests/mount_check
# 99: the test could not run at all; 77: skipped (no FUSE here).
[ -x "$BLTFS" ] || { echo "bltfs not built: $BLTFS" >&2; exit 99; }
[ -x "$MOUNT_CHECK" ] || { echo "not built: $MOUNT_CHECK" >&2; exit 99; }
[ -d "$FIXTURES_DIR" ] || { echo "no fixtures: $FIXTURES_DIR" >&2; exit 99; }
[ -c /dev/fuse ] || { echo "no /dev/fuse: skipped" >&2; exit 77; }
command -v fusermount3 >/dev/null ||
	{ echo "no fusermount3: skipped" >&2; exit 77; }

tmp=$(mktemp -d "${TMPDIR:-/tmp}/bltfs-test.XXXXXX")
tmp=$(cd "$tmp" && pwd -P) # as /proc/self/mounts spells it
# index caches (fs/indexer/index-cache.c) of the tests' stores stay with them
XDG_CACHE_HOME=$tmp/cache
export XDG_CACHE_HOME
# one "PID MOUNTPOINT" line per daemon started and not yet waited for
daemons=$tmp/daemons
: >"$daemons"
# one directory per line that bind_mount bound and bind_umount did not free
binds=$tmp/binds
: >"$binds"
nmount=0

fail()
{
	echo "FAIL: $*" >&2
	exit 1
}

# running, gone, lines and cut_first_chain
. "$top_srcdir/tests/common-lib.sh"

# is_mounted DIR: DIR (a path under $tmp) is a FUSE mount point now, even
# one whose daemon is gone.
is_mounted()
{
	grep -qF " $1 fuse" /proc/self/mounts
}

cleanup()
{
	status=$?
	set +e
	# the last first: one may lie inside another; lazily if it is busy
	tac "$binds" | while read -r dir; do
		umount "$dir" || umount -l "$dir"
	done
	while read -r pid mnt; do
		if is_mounted "$mnt"; then
			fusermount3 -u "$mnt" 2>/dev/null ||
				fusermount3 -uz "$mnt"
		fi
		[ "$pid" != 0 ] || continue # a daemon not ours to wait for
		wait "$pid"
		rc=$?
		if [ "$rc" != 0 ]; then
			echo "bltfs for $mnt exited with $rc:" >&2
			cat "$tmp/log.$pid" >&2
			[ "$status" != 0 ] || status=1
		fi
	done <"$daemons"
	# BLTFS_TEST_KEEP=FILE keeps the daemons' logs of a passing test too
	[ -z "${BLTFS_TEST_KEEP:-}" ] || cat "$tmp"/log.* >"$BLTFS_TEST_KEEP" 2>/dev/null
	rm -rf "$tmp"
	exit "$status"
}
trap cleanup EXIT
trap 'exit 1' HUP INT TERM

# status_get MNT KEY...: the member KEY... of MNT's status file (its
# control directory's), as python prints it: status_get "$m" index from.
status_get()
{
	python3 -c 'import json, sys
v = json.load(open(sys.argv[1] + "/.bltfs/status"))
for k in sys.argv[2:]:
    v = v[k]
print(v)' "$@"
}

# wait_settled FILE: wait until FILE's change time is three seconds old
# (the clock, not a daemon): an index cache is kept only of a store that
# has not changed for two seconds (fs/indexer/index-cache.c), as a write in the
# same tick of the file system's clock would not show in its times.
wait_settled()
{
	settled_file=$1
	poll "the clock did not move" settled
}
settled() { [ "$(date +%s)" -ge $(($(stat -c %Z "$settled_file") + 3)) ]; }

# lazy_hold: for a test that holds a lazy build (-o lazy, fs/indexer/lazy.c) after
# the first batch of each of its two passes.  It makes the FIFO that
# BLTFS_LAZY_HOLD names, from which the build reads a byte each time, and
# a trap that gives the build both bytes however the test ends, so that
# its daemon can end (set -e holds in a trap: a failed test's status would
# end it before cleanup); and that closes fd 8, on which a test may hold a
# file of the mount through the build, as the daemon would wait for it.
# lazy_release [BYTES] lets the build on; lazy_held_mount STORE MNT
# [ARGS...] mounts with the build held.
lazy_hold()
{
	mkfifo "$tmp/hold"
	exec 7<>"$tmp/hold"
	trap 'st=$?; set +e; exec 8<&-; lazy_release xx; (exit "$st"); cleanup' EXIT
}
lazy_release() { printf "${1:-x}" >&7 2>/dev/null || true; }
lazy_held_mount()
{
	BLTFS_LAZY_HOLD=$tmp/hold
	export BLTFS_LAZY_HOLD
	bltfs_mount "$@"
	unset BLTFS_LAZY_HOLD
}
# ref_new STORE SERIALIZER CODE: the reference makes STORE anew (str keys,
# SERIALIZER values) and runs the Python CODE with it open as db; ref_write
# STORE CODE runs CODE with STORE open for writing.  Each line of CODE is
# indented by four spaces, as the body of the with block it goes in.
ref_new()
{
	"$PY" -c "import booklet, sys
with booklet.open(sys.argv[1], 'n', key_serializer='str',
                  value_serializer='$2') as db:
$3" "$1" || fail "the reference could not make $1 (above)"
}
ref_write()
{
	"$PY" -c "import booklet, sys
with booklet.open(sys.argv[1], 'w') as db:
$2" "$1" || fail "the reference failed on $1 (above)"
}
# store_unlocked STORE: no process holds STORE's flock (/proc/locks), as
# an idle mount leaves it, and as the pipeline, whose booklet does not
# wait for it, must find it.  store_let_go STORE waits for that.
store_unlocked() { ! grep -q ":$(stat -c %i "$1") " /proc/locks; }
store_let_go()
{
	poll "the idle mount keeps $1 locked: $(cat /proc/locks)" \
	    store_unlocked "$1"
}
# sweep_held_mount STORE MNT STEP: mounts STORE on MNT with the sweep of
# names of keys another process deleted held after its first step
# (BLTFS_SWEEP_HOLD, steps of STEP entries), then waits for the idle
# mount to let the store go; sweep_held waits for a sweep to be held
# there, and lazy_release lets it on (lazy_hold above).
sweep_held_mount()
{
	lazy_hold
	BLTFS_SWEEP_HOLD=$tmp/hold BLTFS_FOLLOW_STEP=$3
	export BLTFS_SWEEP_HOLD BLTFS_FOLLOW_STEP
	bltfs_mount "$1" "$2"
	unset BLTFS_SWEEP_HOLD BLTFS_FOLLOW_STEP
	store_let_go "$1"
}
sweep_held() { poll "the sweep did not start" test -e "$tmp/hold.held"; }
# lists_store STORE MNT: the files MNT lists (its control directory left
# out) are the keys the reference reads in STORE; the difference, if any,
# on standard error
lists_store()
{
	"$PY" - "$1" "$2" <<'PY'
import booklet, os, sys
store, mnt = sys.argv[1:]
with booklet.open(store, 'r') as db:
    want = set(db.keys())
got = set()
for d, dirs, files in os.walk(mnt):
    if d == mnt and '.bltfs' in dirs:
        dirs.remove('.bltfs')
    got.update(os.path.relpath(os.path.join(d, f), mnt) for f in files)
if got != want:
    sys.exit(f'listed, not stored: {sorted(got - want)[:5]}; '
             f'stored, not listed: {sorted(want - got)[:5]}')
PY
}
# dirs_known MNT: the lazy build's first pass found every directory
dirs_known() { [ "$(status_get "$1" index directories_known)" = True ]; }

# bltfs_start STORE MNT [ARGS...]: start a daemon; sets $pid.  Its other
# variables start with start_, so that tests may name theirs freely.  The
# caller reads the ready byte from $tmp/ready.
bltfs_start()
{
	start_store=$1
	start_mnt=$2
	shift 2
	[ -e "$start_mnt" ] || mkdir -p "$start_mnt"
	nmount=$((nmount + 1))
	rm -f "$tmp/ready"
	mkfifo "$tmp/ready"
	"$BLTFS" "$start_store" "$start_mnt" -f -o ready_fd=3 "$@" \
	    3>"$tmp/ready" 2>"$tmp/log.start" &
	pid=$!
}

# bltfs_mount STORE MNT [ARGS...]: mount STORE at MNT and wait until it is
# ready; fails the test if bltfs gives up.
bltfs_mount()
{
	bltfs_start "$@"
	ready=$(head -c 1 "$tmp/ready")
	mv "$tmp/log.start" "$tmp/log.$pid"
	echo "$pid $2" >>"$daemons"
	if [ "$ready" != 1 ]; then
		cat "$tmp/log.$pid" >&2
		fail "bltfs $* did not mount"
	fi
}

# bltfs_mount_fails STORE MNT [ARGS...]: bltfs must refuse to mount, with a
# non-zero exit and a message; the message is left in $tmp/err.
bltfs_mount_fails()
{
	bltfs_start "$@"
	ready=$(head -c 1 "$tmp/ready")
	if [ "$ready" = 1 ]; then
		echo "$pid $2" >>"$daemons"
		fail "bltfs $* mounted, but should have failed"
	fi
	set +e
	wait "$pid"
	rc=$?
	set -e
	mv "$tmp/log.start" "$tmp/err"
	[ "$rc" != 0 ] || fail "bltfs $* failed with exit status 0"
	[ -s "$tmp/err" ] || fail "bltfs $* failed without a message"
}

# forget_daemon PID: take the daemon PID off the list that the EXIT trap
# cleans up after ("0" for mounts whose daemon is not our child).
forget_daemon()
{
	grep -v "^$1 " "$daemons" >"$daemons.new" || true
	mv "$daemons.new" "$daemons"
}

# run_status CMD...: run CMD with its stderr in $tmp/err, and its exit
# status, whatever it is, in $got.
run_status()
{
	set +e
	"$@" 2>"$tmp/err"
	got=$?
	set -e
}

# bltfs_reap PID: wait for the daemon PID to exit, its status into $rc,
# and forget it.
bltfs_reap()
{
	set +e
	wait "$1"
	rc=$?
	set -e
	forget_daemon "$1"
}

# bltfs_umount MNT: unmount, wait for the daemon and require a clean exit.
bltfs_umount()
{
	line=$(grep " $1\$" "$daemons" | tail -n 1)
	[ -n "$line" ] || fail "no daemon for $1"
	upid=${line%% *}
	fusermount3 -u "$1"
	bltfs_reap "$upid"
	if [ "$rc" != 0 ]; then
		cat "$tmp/log.$upid" >&2
		fail "bltfs for $1 exited with $rc"
	fi
}

# bltfs_term MNT: SIGTERM the daemon of MNT, which must unmount, close the
# store and exit 0.
bltfs_term()
{
	line=$(grep " $1\$" "$daemons" | tail -n 1)
	tpid=${line%% *}
	kill -TERM "$tpid"
	bltfs_reap "$tpid"
	[ "$rc" = 0 ] || fail "bltfs for $1 exited with $rc after SIGTERM"
	! is_mounted "$1" || fail "$1 still mounted after SIGTERM"
}

# bltfs_kill MNT: SIGKILL the daemon of MNT.  The mount stays, failing
# every access with ENOTCONN, until fusermount3 -u (or the EXIT trap).
bltfs_kill()
{
	line=$(grep " $1\$" "$daemons" | tail -n 1)
	kpid=${line%% *}
	kill -KILL "$kpid"
	bltfs_reap "$kpid" 2>/dev/null
	echo "0 $1" >>"$daemons"
}

# bind_mount DIR TARGET: mount DIR at TARGET as well (mount --bind, which
# needs root); TARGET is made if need be.
bind_mount()
{
	mkdir -p "$2"
	mount --bind "$1" "$2"
	echo "$2" >>"$binds"
}

# bind_umount TARGET: undo bind_mount.
bind_umount()
{
	umount "$1"
	grep -vxF "$1" "$binds" >"$binds.new" || true
	mv "$binds.new" "$binds"
}

# copy_tools TOOLS: TOOLS and rsync, where rsync is installed (a test that
# copies with it says it did not, where not).
copy_tools()
{
	if command -v rsync >/dev/null; then
		echo "$1 rsync"
	else
		echo "rsync not installed: its copy is not tested" >&2
		echo "$1"
	fi
}

# check_store STORE: blt check finds no problem (when blt is built).
check_store()
{
	[ -x "$BLT" ] || return 0
	"$BLT" check "$1" >"$tmp/check.out" 2>&1 || {
		cat "$tmp/check.out" >&2
		fail "blt check $1"
	}
}

# same_tree A B: diff -r finds no difference.
# same_types A B: find, going by the types in the listings (d_type), sees
# the same files and directories in A and B.
same_types()
{
	for side in a:"$1" b:"$2"; do
		(cd "${side#?:}" && find . -type d -printf 'd %p\n' -o \
		    -type f -printf 'f %p\n' | sort) >"$tmp/types.${side%%:*}"
	done
	cmp -s "$tmp/types.a" "$tmp/types.b" || {
		diff "$tmp/types.a" "$tmp/types.b" | head -n 40 >&2
		fail "find sees other types in $1 and $2"
	}
}

same_tree()
{
	diff -r "$1" "$2" >"$tmp/diff.out" 2>&1 || {
		head -n 40 "$tmp/diff.out" >&2
		fail "$1 and $2 differ"
	}
}
