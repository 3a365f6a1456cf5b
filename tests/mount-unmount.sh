#!/bin/sh
# bltfs ctl MOUNT unmount returns once the daemon has closed the store and
# ended: the store is unlocked and marked closed when it returns, with
# every value.
# fusermount3 -u returns before that, and the daemon's close can take long:
# here a map whose command ignores SIGTERM keeps the daemon a second past
# the unmount (bltfs(1): SIGTERM, then SIGKILL after 1 second).  Paths
# that are not the mount point, extra words and a mount with a bind mount
# beside it are refused, and the mount stays; a mount whose daemon was
# killed is unmounted, saying so.
. "$(dirname "$0")/lib.sh"

store=$tmp/s.blt
m=$tmp/m

# refused: the command is bltfs ctl's, so its exit statuses are too
refused()
{
	want=$1
	shift
	run_status "$BLTFS" ctl "$@"
	[ "$got" = "$want" ] ||
		fail "bltfs ctl $* exited $got, not $want: $(cat "$tmp/err")"
	is_mounted "$m" || fail "bltfs ctl $* unmounted $m"
}

bltfs_mount "$store" "$m"
for i in 1 2 3; do
	echo "value $i" >"$m/f$i"
done
mkdir "$m/d"
echo nested >"$m/d/g"

refused 1 "$m/d" unmount
grep -qF "$m/d: not a mount point (the mount is at $m)" "$tmp/err" ||
	fail "no word of the mount point: $(cat "$tmp/err")"
refused 2 "$m" unmount now
grep -q "unmount takes no arguments" "$tmp/err" ||
	fail "no usage message: $(cat "$tmp/err")"
if [ "$(id -u)" = 0 ]; then
	bind_mount "$m" "$tmp/bound"
	refused 1 "$m" unmount
	grep -qF "the store is mounted at $tmp/bound too" "$tmp/err" ||
		fail "no word of the bind mount: $(cat "$tmp/err")"
	bind_umount "$tmp/bound"
fi

# A map whose command ignores SIGTERM, running when the mount goes.
"$BLTFS" ctl "$m" map --exec \
    "echo \$\$ >$tmp/cmd.pid; trap '' TERM; sleep 120 & wait" -- f1 \
    >/dev/null
lines "$tmp/cmd.pid" 1
line=$(grep " $m\$" "$daemons")
dpid=${line%% *}
"$BLTFS" ctl "$m" unmount 2>"$tmp/err" ||
	fail "unmount failed: $(cat "$tmp/err")"
[ ! -s "$tmp/err" ] || fail "unmount said: $(cat "$tmp/err")"
! is_mounted "$m" || fail "$m is still mounted"
# the daemon has ended (a zombie until this shell reaps it): a mount lets
# the store's lock go while idle, and takes it again to close
state=$(sed -n 's/^State:[[:space:]]*\(.\).*/\1/p' "/proc/$dpid/status" \
    2>/dev/null || true)
[ -z "$state" ] || [ "$state" = Z ] ||
	fail "the daemon still runs ($state) when bltfs ctl unmount returns"
flock -n -x "$store" true ||
	fail "the store is still locked when bltfs ctl unmount returns"
"$BLT" stat "$store" >"$tmp/stat" 2>"$tmp/err" || fail "$(cat "$tmp/err")"
[ ! -s "$tmp/err" ] || fail "blt stat said: $(cat "$tmp/err")"
# f1 to f3 and d/g (d's marker went with d/g: doc/keys.md)
grep -q '"keys": 4,' "$tmp/stat" || fail "keys: $(cat "$tmp/stat")"
[ "$("$BLT" get "$store" d/g)" = nested ] || fail "d/g is not kept"
[ "$("$BLT" get "$store" f3)" = "value 3" ] || fail "f3 is not kept"
bltfs_reap "$dpid"
[ "$rc" = 0 ] || fail "bltfs exited $rc: $(cat "$tmp/log.$dpid")"
gone "$(cat "$tmp/cmd.pid")"

# A mount whose daemon was killed answers nothing; it is unmounted all the
# same, and the next mount recovers the store with every closed file.
bltfs_mount "$store" "$m"
echo after >"$m/f4"
bltfs_kill "$m"
run_status "$BLTFS" ctl "$m" unmount
[ "$got" = 1 ] || fail "unmount of a mount without its daemon exited $got"
grep -qF "$m: unmounted (its daemon had ended), but $store was not closed cleanly" \
    "$tmp/err" || fail "no word of the daemon: $(cat "$tmp/err")"
! is_mounted "$m" || fail "$m is still mounted"
bltfs_mount "$store" "$m"
[ "$(cat "$m/f4")" = after ] || fail "f4 is lost"
bltfs_umount "$m"

# Unmounting what is not mounted any more: fusermount3 says why.
mkdir -p "$m"
run_status "$BLTFS" ctl "$m" unmount
[ "$got" = 1 ] || fail "unmount of a plain directory exited $got"
grep -qF "$m: not a bltfs mount" "$tmp/err" ||
	fail "no word of what is wrong: $(cat "$tmp/err")"
