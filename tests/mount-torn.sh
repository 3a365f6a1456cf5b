#!/bin/sh
# A store with a torn block in its middle: a writer killed in the middle
# of an append (one of ours before appends were sealed, or the
# reference's own), and then the reference, which cuts no torn end,
# appended after it (issue 66).  The mount goes on answering for the keys
# it knows; the change it cannot follow past the torn block, its status
# names, in JSON and in bltfs ctl status, and so does its log; blt check
# names the block; blt check --repair covers it, and then the reference
# iterates every key and a mount shows them all.
. "${top_srcdir:-$(dirname "$0")/..}/tests/lib.sh"
need_reference

s=$tmp/s.blt
m=$tmp/m
ref_new "$s" bytes "    for i in range(10):
        db[f'k{i}'] = b'v' * 50"
bltfs_mount "$s" "$m"
[ "$(cat "$m/k3")" = "$(printf 'v%.0s' $(seq 50))" ] || fail "k3 does not read"
store_let_go "$s"
# a torn block at the end (its head says 5,000 bytes of value, 40 follow),
# then the reference appends after it
torn=$(stat -c %s "$s")
"$PY" - "$s" <<'PY' || fail "the reference failed (above)"
import booklet, struct, sys
with open(sys.argv[1], 'r+b') as f:
    f.seek(0, 2)
    f.write(b'\x11' * 13 + bytes(6) + struct.pack('<H', 5) +
            struct.pack('<I', 5000) + bytes(7) + b'abcde' + b'x' * 40)
with booklet.open(sys.argv[1], 'w') as db:
    for i in range(5):
        db[f'late{i}'] = b'L' * 60
PY
failed() { [ "$(status_get "$m" followed failures)" -ge 1 ]; }
poll "the mount does not say it could not follow: $(cat "$m/.bltfs/status")" failed
status_get "$m" followed last_failure | grep -q "damaged block at $torn" ||
	fail "status names no torn block at $torn: $(cat "$m/.bltfs/status")"
"$BLTFS" ctl "$m" status >"$tmp/st" || fail "bltfs ctl status failed"
grep -q "could not be followed; the last: .*damaged block at $torn" "$tmp/st" ||
	fail "bltfs ctl status says: $(cat "$tmp/st")"
[ "$(cat "$m/k3")" = "$(printf 'v%.0s' $(seq 50))" ] ||
	fail "k3 does not read beside the torn block"
bltfs_umount "$m"
grep -q "following another process's change: .*damaged block at $torn" \
    "$tmp"/log.* || fail "the daemon's log does not name the torn block"
! "$BLT" check "$s" >"$tmp/out" 2>&1 || fail "blt check passed a torn block"
grep -q "damaged block at $torn" "$tmp/out" ||
	fail "blt check says: $(cat "$tmp/out")"
# 1: problems found (and here repaired)
"$BLT" check --repair "$s" >"$tmp/out" 2>&1 || [ $? = 1 ] ||
	fail "blt check --repair failed: $(cat "$tmp/out")"
grep -q "1 problem found and repaired" "$tmp/out" ||
	fail "blt check --repair says: $(cat "$tmp/out")"
"$BLT" check "$s" >"$tmp/out" 2>&1 ||
	fail "blt check after the repair: $(cat "$tmp/out")"
"$PY" - "$s" <<'PY' || fail "the reference does not iterate every key (above)"
import booklet, sys
with booklet.open(sys.argv[1], 'r') as db:
    got = dict(db.items())
assert len(got) == 15, sorted(got)
PY
bltfs_mount "$s" "$m"
n=$(find "$m" -path "$m/.bltfs" -prune -o -type f -print | wc -l)
[ "$n" = 15 ] || fail "after the repair the mount shows $n files, not 15"
bltfs_umount "$m"
echo "mount-torn: ok"
