#!/bin/sh
# A reindex that fails half-way leaves the mounted store taking no more
# writes until it is mounted again (BLT_REINDEX_STUCK), and so does a
# failed write whose torn end cannot be cut off (BLT_TORN_TAIL, at the
# end).  The daemon runs
# with tests/crashpoint.so preloaded, failing every ftruncate, and under a
# file size limit: the automatic reindex after the eleventh key cannot
# grow the index, and what it wrote of it cannot be cut off again.  Then
# status says that the store takes no writes and why; writes fail with EIO
# and the log says what to do, once; jobs that would write fail and say
# so; what was stored stays readable.  A plain remount finishes or undoes
# the reindex, and loses no key.
. "${top_srcdir:-$(dirname "$0")/..}/tests/lib.sh"

CRASHPOINT=$top_builddir/tests/crashpoint.so
[ -f "$CRASHPOINT" ] || { echo "not built: $CRASHPOINT" >&2; exit 99; }
PLUGIN=$top_builddir/tests/plugin_test.so
[ -f "$PLUGIN" ] || { echo "not built: $PLUGIN" >&2; exit 99; }
command -v prlimit >/dev/null || { echo "no prlimit: skipped" >&2; exit 77; }
# a daemon built with AddressSanitizer wants its runtime loaded first
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0"

store=$tmp/s.blt
m=$tmp/m
stuck_line="bltfs: $store: a reindex failed half-way: the store takes no more writes; unmount and mount it again to finish or undo the reindex"

# An index of 10 buckets: the eleventh key makes the flush that stores it
# grow the index to 12007 buckets, 72 KB more than the store needs now.
"$BLT" create --buckets 10 "$store"

# check ok|stuck|torn MOUNT: status, by file and by ioctl, says that the
# store takes writes, or that it does not, and why.
cat >"$tmp/status.py" <<'PY'
import fcntl, json, os, struct, sys

want, mnt = sys.argv[1], sys.argv[2]
STATUS = "=IIQQQQQIIQ256sII"
fd = os.open(mnt, os.O_RDONLY)
buf = bytearray(struct.calcsize(STATUS))
fcntl.ioctl(fd, (2 << 30) | (len(buf) << 16) | (0xB1 << 8) | 3, buf)
os.close(fd)
flags = struct.unpack(STATUS, bytes(buf))[11]
with open(os.path.join(mnt, ".bltfs", "status")) as f:
    j = json.load(f)
if want == "ok":
    assert flags == 0 and j["writable"] is True and j["problem"] is None, \
        (flags, j)
elif want == "torn":
    assert flags == 2 and j["writable"] is False, (flags, j)
    assert j["problem"] == ("a write failed and what it left at the end of "
                            "the store could not be cut off: the store "
                            "takes no more writes; unmount and mount it "
                            "again to cut it off"), j
else:
    assert flags & 1 and j["writable"] is False, (flags, j)
    assert j["problem"] == ("a reindex failed half-way: the store takes no "
                            "more writes; unmount and mount it again to "
                            "finish or undo the reindex"), j
PY
check()
{
	python3 "$tmp/status.py" "$@" || fail "status of $2 is not '$1'"
}

# put PATH VALUE WANT: write VALUE to PATH and close it; the close (which
# stores the file) must fail with errno WANT, or succeed for OK.
cat >"$tmp/put.py" <<'PY'
import errno, os, sys

path, value, want = sys.argv[1], sys.argv[2], sys.argv[3]
fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
os.write(fd, value.encode())
try:
    os.close(fd)
    got = "OK"
except OSError as e:
    got = errno.errorcode[e.errno]
assert got == want, "%s: close gave %s, not %s" % (path, got, want)
PY
put()
{
	python3 "$tmp/put.py" "$@" || fail "storing $1"
}

# mount_failing STORE: mount STORE at $m with a daemon whose every
# ftruncate fails (crashpoint.so); sets $stuck_pid and $log.
printf '#!/bin/sh\nBLT_FAIL_CALL=ftruncate LD_PRELOAD=%s exec %s "$@"\n' \
    "$CRASHPOINT" "$BLTFS" >"$tmp/bltfs-failing"
chmod +x "$tmp/bltfs-failing"
mount_failing()
{
	real=$BLTFS
	BLTFS=$tmp/bltfs-failing
	bltfs_mount "$1" "$m"
	BLTFS=$real
	stuck_pid=$pid
	log=$tmp/log.$pid
}

# fill_up STORE: limit the daemon's file size so that STORE has room for a
# few more keys, not for a bigger index.
fill_up()
{
	prlimit --pid "$stuck_pid" \
	    --fsize=$(($(stat -c %s "$1") + 3000)):unlimited
}

# umount_stuck STORE: unmount $m.  The daemon cannot close the store
# cleanly, and says so (bltfs(1), EXIT STATUS); so does bltfs ctl unmount,
# which waits for that close.
umount_stuck()
{
	run_status "$BLTFS" ctl "$m" unmount
	[ "$got" = 1 ] || fail "bltfs ctl unmount of a stuck store exited $got"
	grep -qF "$m: unmounted, but " "$tmp/err" ||
		fail "bltfs ctl unmount said: $(cat "$tmp/err")"
	! is_mounted "$m" || fail "$m is still mounted"
	bltfs_reap "$stuck_pid"
	[ "$rc" = 1 ] || fail "bltfs of a stuck store exited $rc: $(cat "$log")"
	grep -q "closing the store: $1:" "$log" ||
		fail "no word of the close: $(cat "$log")"
	! grep -q Sanitizer "$log" || fail "$(cat "$log")"
}

mount_failing "$store"
mkdir "$m/dir"
for i in 1 2 3 4 5 6 7 8 9; do
	put "$m/f$i" "value $i" OK
done
check ok "$m"

# Room for the eleventh key, not for the bigger index.  Its close fails,
# with the error of the growth; the value itself was stored before it.
fill_up "$store"
put "$m/f10" "value 10" EFBIG
grep -q "File too large" "$log" || fail "the log does not say why: $(cat "$log")"
prlimit --pid "$stuck_pid" --fsize=unlimited:unlimited
check stuck "$m"

# Every write fails with EIO: a new file, an overwrite, mkdir, unlink,
# rename.  The log says what to do once, not once per write.
put "$m/new" "new" EIO
put "$m/f2" "changed" EIO
for how in "mkdir $m/dir2" "rm $m/f3" "mv $m/f4 $m/f4b" "rmdir $m/dir"; do
	# shellcheck disable=SC2086 # the command and its arguments
	if $how 2>"$tmp/err"; then
		fail "$how succeeded on a store that takes no more writes"
	fi
	grep -q "Input/output error" "$tmp/err" || fail "$how: $(cat "$tmp/err")"
done
n=$(grep -cxF "$stuck_line" "$log" || true)
[ "$n" = 1 ] || fail "the log says what to do $n times: $(cat "$log")"

# Jobs that would write the store fail, and say why and what to do.
for cmd in "reindex --buckets 144013" prune "map --exec cat"; do
	set +e
	# shellcheck disable=SC2086 # the command and its arguments
	"$BLTFS" ctl "$m" $cmd --wait >"$tmp/out" 2>"$tmp/err"
	rc=$?
	set -e
	[ "$rc" = 3 ] || fail "bltfs ctl $cmd exited $rc: $(cat "$tmp/err")"
	grep -qF "failed: $store: a reindex failed half-way: the store takes no more writes; unmount and mount it again to finish or undo the reindex" "$tmp/err" ||
		fail "bltfs ctl $cmd: $(cat "$tmp/err")"
	id=$(sed -n 's/^job \([0-9]*\) started$/\1/p' "$tmp/out")
	python3 - "$m/.bltfs/jobs/$id" <<'PY' || fail "jobs/$id of $cmd"
import json, sys
j = json.load(open(sys.argv[1]))
assert j["state"] == "failed" and j["error"]["name"] == "EIO", j
assert "unmount and mount it again" in j["error"]["message"], j
PY
done

# What was stored stays readable.
for i in 1 2 3 4 5 6 7 8 9; do
	[ "$(cat "$m/f$i")" = "value $i" ] || fail "f$i reads '$(cat "$m/f$i")'"
done
[ -d "$m/dir" ] || fail "dir is gone"
check stuck "$m"

umount_stuck "$store"

# A plain mount finishes or undoes the reindex, and the store takes
# writes again.  No key stored before is lost; the eleventh holds its
# value, if it is there.
bltfs_mount "$store" "$m"
check ok "$m"
for i in 1 2 3 4 5 6 7 8 9; do
	[ "$(cat "$m/f$i")" = "value $i" ] || fail "after the remount, f$i"
done
[ -d "$m/dir" ] || fail "after the remount, dir is gone"
[ ! -e "$m/f10" ] || [ "$(cat "$m/f10")" = "value 10" ] ||
	fail "f10 reads '$(cat "$m/f10")'"
[ ! -e "$m/new" ] || [ ! -s "$m/new" ] || fail "a refused file has a value"
put "$m/f12" "value 12" OK
mkdir "$m/dir2"
rm "$m/f3"
bltfs_umount "$m"
check_store "$store"
"$BLT" ls "$store" | sort >"$tmp/keys"
for k in f1 f2 f4 f5 f6 f7 f8 f9 f12 dir/ dir2/; do
	grep -qxF "$k" "$tmp/keys" || fail "key $k is lost: $(cat "$tmp/keys")"
done
! grep -qxF f3 "$tmp/keys" || fail "f3 was not removed after the remount"

# A map whose own results make the store stuck fails, and says so, what
# to do and why.  (A plugin, not a command: the workers' shell would
# inherit the preload, and a sanitizer build of crashpoint.so does not
# load into it.)
store=$tmp/s2.blt
"$BLT" create --buckets 10 "$store"
mount_failing "$store"
for i in 1 2 3 4 5 6; do
	put "$m/f$i" "value $i" OK
done
fill_up "$store"
set +e
"$BLTFS" ctl "$m" map --plugin "$PLUGIN:plugin_upper" --to 'copy/{key}' \
    --wait >"$tmp/out" 2>"$tmp/err"
rc=$?
set -e
[ "$rc" = 3 ] || fail "the map exited $rc: $(cat "$tmp/err")"
grep -qF "failed: $store: a reindex failed half-way: the store takes no more writes; unmount and mount it again to finish or undo the reindex ($store: " "$tmp/err" ||
	fail "the map: $(cat "$tmp/err")"
grep -q "File too large" "$tmp/err" || fail "the map: $(cat "$tmp/err")"
check stuck "$m"
umount_stuck "$store"
bltfs_mount "$store" "$m"
check ok "$m"
for i in 1 2 3 4 5 6; do
	[ "$(cat "$m/f$i")" = "value $i" ] || fail "after the map, f$i"
	[ ! -e "$m/copy/f$i" ] || [ "$(cat "$m/copy/f$i")" = "VALUE $i" ] ||
		fail "copy/f$i reads '$(cat "$m/copy/f$i")'"
done
bltfs_umount "$m"
check_store "$store"

# A write that fails part of the way into the file, at the end of an index
# that has room: cutting off what it wrote fails too, so the store takes
# no more writes.  The next mount cuts the torn end off.
store=$tmp/s3.blt
"$BLT" create "$store"
mount_failing "$store"
for i in 1 2 3; do
	put "$m/f$i" "value $i" OK
done
check ok "$m"
fill_up "$store"
head -c 10000 /dev/zero | tr '\0' x >"$tmp/big"
put "$m/big" "$(cat "$tmp/big")" EFBIG
prlimit --pid "$stuck_pid" --fsize=unlimited:unlimited
check torn "$m"
put "$m/f1" "changed" EIO
put "$m/new" "new" EIO
grep -qxF "bltfs: $store: a write failed and what it left at the end of the store could not be cut off: the store takes no more writes; unmount and mount it again to cut it off" "$log" ||
	fail "the log does not say what to do: $(cat "$log")"
umount_stuck "$store"
bltfs_mount "$store" "$m"
check ok "$m"
for i in 1 2 3; do
	[ "$(cat "$m/f$i")" = "value $i" ] || fail "after the torn write, f$i"
done
[ ! -s "$m/big" ] || fail "the torn write left big with a value"
put "$m/f4" "value 4" OK
bltfs_umount "$m"
check_store "$store"
echo "mount-stuck: ok"
