#!/bin/sh
# sync(1) and syncfs(2) do not reach the mount (issue 67): Linux sends a
# FUSE server served through /dev/fuse no request for them, as bltfs(1)
# and doc/durability.md say (the libfuse log, -d, shows none).  bltfs ctl
# MNT sync --wait is what makes the files closed before it durable: it
# returns once its job is done.
. "${top_srcdir:-$(dirname "$0")/..}/tests/lib.sh"

m=$tmp/m
bltfs_mount "$tmp/s.blt" "$m" -d
log=$tmp/log.$pid
for i in 1 2 3 4 5; do
	echo "value $i" >"$m/f$i" || fail "cp into the mount"
done
n=$(($(wc -l <"$log") + 1))
sync -f "$m/f1" || fail "sync -f"
sync
if tail -n "+$n" "$log" | grep -q 'opcode: SYNCFS'; then
	fail "the kernel sent SYNCFS: bltfs(1) and doc/durability.md say it does not"
fi
"$BLTFS" ctl "$m" sync --wait >"$tmp/out" 2>&1 ||
	fail "bltfs ctl sync --wait: $(cat "$tmp/out")"
tail -n "+$n" "$log" | grep -q 'opcode: IOCTL\|opcode: WRITE' ||
	fail "bltfs ctl sync sent the mount nothing"
python3 - "$m/.bltfs" <<'PY' || fail "bltfs ctl sync returned before its job ended"
import json, os, sys
s = json.load(open(os.path.join(sys.argv[1], "status")))
j = json.load(open(os.path.join(sys.argv[1], "jobs", str(s["last_job"]))))
assert j["kind"] == "sync" and j["state"] == "done", j
PY
for i in 1 2 3 4 5; do
	[ "$(cat "$m/f$i")" = "value $i" ] || fail "f$i after the sync"
done
bltfs_umount "$m"
echo "mount-sync: ok"
