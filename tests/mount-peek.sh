#!/bin/sh
# Readers that take no lock beside a hostile writer (issue 66): the
# reference holds its store open for writing all along, puts new versions
# longer and shorter, deletes, grows past two reindexes, prunes and clears
# in place, and stops (SIGSTOP) at random writes, some half done, while
# four threads read and list through a read-write and a -o ro mount.
# Every value read is whole and one the writer wrote for that key (each
# value names its key and version); a read answers EBUSY only where its
# checks keep failing, which is counted (a prune, clear or reindex half
# done, mostly; issue 66 wants none elsewhere); each sync shows in both
# mounts while the writer still holds the store; the reference opens the
# store for writing at once beside the busy readers; both mounts end
# showing the store exactly (tests/mount-peek.py).  SEED repeats a run,
# ROUNDS sizes it.
. "${top_srcdir:-$(dirname "$0")/..}/tests/lib.sh"
need_reference

ROUNDS=${ROUNDS:-12}
SEED=${SEED:-$(od -An -N4 -tu4 /dev/urandom | tr -d ' ')}
echo "SEED=$SEED"
drive=$top_srcdir/tests/mount-peek.py
s=$tmp/s.blt
"$PY" "$drive" create "$s" || fail "the reference made no store"
bltfs_mount "$s" "$tmp/rw" -o lock_timeout=1
bltfs_mount "$s" "$tmp/ro" -o ro,lock_timeout=1
python3 "$drive" drive "$s" "$tmp/rw" "$tmp/ro" "$tmp" "$SEED" "$ROUNDS" \
    "$PY" || fail "readers beside the writer (SEED=$SEED)"
for m in rw ro; do
	grep -q '"keys_unlocked": [1-9]' "$tmp/$m/.bltfs/status" ||
		fail "$m: status counts no key followed without the lock"
	grep -q '"relaid_unlocked": [1-9]' "$tmp/$m/.bltfs/status" ||
		fail "$m: status counts no prune followed without the lock"
done
bltfs_umount "$tmp/ro"
bltfs_umount "$tmp/rw"
"$PY" - "$s" <<'PY' || fail "the reference cannot read the store whole"
import booklet, sys
with booklet.open(sys.argv[1], 'r') as db:
    dict(db.items())
PY
echo "mount-peek: ok"
