#!/bin/sh
# blt honours booklet's file locks: by default it fails at once with status
# 3 on a store another process holds, naming that process; --timeout waits
# up to so many seconds, --timeout inf for as long as it takes; readers
# share.  A Python process holds the lock (flock, as booklet takes it) and
# says when through a FIFO, so nothing here sleeps.
. "${top_srcdir:-$(dirname "$0")/..}/tests/blt-lib.sh"

s=$tmp/s.blt
"$BLT" create "$s"
echo v | "$BLT" put "$s" k

# hold MODE: lock $s (ex or sh) in the background until release is called.
hold()
{
	rm -f "$tmp/ready" "$tmp/release"
	mkfifo "$tmp/ready" "$tmp/release"
	python3 -c '
import fcntl, sys
f = open(sys.argv[1], "rb")
fcntl.flock(f, fcntl.LOCK_EX if sys.argv[2] == "ex" else fcntl.LOCK_SH)
print("locked", flush=True)
sys.stdin.read()
' "$s" "$1" <"$tmp/release" >"$tmp/ready" &
	holder=$!
	exec 3>"$tmp/release"
	read -r line <"$tmp/ready"
	[ "$line" = locked ] || fail "the lock holder did not start"
}

# release: let the holder go and wait for it.
release()
{
	exec 3>&-
	wait "$holder"
}

hold ex
# by default, at once: who holds it, and how to wait
for cmd in "get $s k" "ls $s" "dump $s" "check $s" "stat $s"; do
	# shellcheck disable=SC2086
	expect 3 "$BLT" $cmd
	[ "$(cat "$tmp/err")" = "blt: $s: held by python3 (pid $holder); wait with --timeout SECONDS" ] ||
		fail "blt $cmd on a held store: $(cat "$tmp/err")"
done
expect 3 "$BLT" get --timeout 0 "$s" k
err_has "$s"
expect 3 "$BLT" put --timeout 0.05 "$s" k2 </dev/null
# the last line says why it gave up, naming the store and its holder
[ "$(tail -n 1 "$tmp/err")" = "blt: $s: held by python3 (pid $holder) past the lock timeout (exclusive lock not granted within 0.05 s)" ] ||
	fail "put past the lock timeout: $(cat "$tmp/err")"
expect 3 "$BLT" ls --timeout 0 "$s"
expect 2 "$BLT" ls --timeout 1e3 "$s"
err_has "bad --timeout"
# With --timeout inf, put says that it waits for the lock (the cue to let
# go of it), waits, and then succeeds.  It must not inherit the FIFO, or
# the holder would never see its end; timeout(1) only bounds a put that
# never says it, which would otherwise hang the test.
mkfifo "$tmp/said"
echo waited | timeout 120 "$BLT" put --timeout inf "$s" k3 3>&- 2>"$tmp/said" &
putter=$!
exec 4<"$tmp/said"
read -r said <&4
case $said in
"blt: $s: held by python3 (pid $holder); waiting until it lets go") ;;
*) fail "put did not say it waits: $said" ;;
esac
release
wait "$putter" || fail "put after waiting for the lock"
exec 4<&-
[ "$("$BLT" get --timeout 0 "$s" k3)" = waited ] || fail "waited put lost"

# check waits for the lock like the others (a daemon that was just
# unmounted may still be closing the store), and gives up with --timeout.
hold ex
expect 3 "$BLT" check --timeout 0.05 "$s"
err_has "waiting up to 0.05 s"
# as for the other commands (it said "locked by another process" only, as
# if it had not waited)
[ "$(tail -n 1 "$tmp/err")" = "blt: $s: held by python3 (pid $holder) past the lock timeout (shared lock not granted within 0.05 s)" ] ||
	fail "check past the lock timeout: $(cat "$tmp/err")"
"$BLT" check --timeout -1 "$s" 3>&- >"$tmp/check.out" 2>"$tmp/check.err" &
checker=$!
release
wait "$checker" || fail "check after waiting for the lock"
[ "$(cat "$tmp/check.out")" = "$s: ok, 2 keys" ] ||
	fail "check said $(cat "$tmp/check.out")"

hold sh
[ "$("$BLT" get --timeout 0 "$s" k)" = v ] || fail "readers do not share"
expect 3 "$BLT" del --timeout 0 "$s" k
release
"$BLT" del --timeout 0 "$s" k
exit 0
