#!/bin/sh
# A randomized history of a store shared by Python writers, writes through
# a read-write mount and readers, checked against a model of every write
# (issue 66, tests/mount-history.py): Python sessions that put, delete,
# sync, prune and clear, some killed between or in their syncs; cp and rm
# through the mount beside them; prunes through the mount; the mount's
# daemon killed and mounted again; four threads reading through it and a
# -o ro mount all along.  Every read is a whole value written for its key
# by a write that did not fail, each done write shows in both mounts, and
# the reference ends reading a store the model allows, key by key.  SEED
# repeats a run, STEPS sizes it (bench/bench_history.sh runs it long),
# HISTORY_TRACE=FILE notes each step there with its time, as a failed read
# gives its own.
. "${top_srcdir:-$(dirname "$0")/..}/tests/lib.sh"
need_reference

STEPS=${STEPS:-60}
SEED=${SEED:-$(od -An -N4 -tu4 /dev/urandom | tr -d ' ')}
echo "SEED=$SEED"
drive=$top_srcdir/tests/mount-history.py
s=$tmp/s.blt
"$PY" "$drive" create "$s" || fail "the reference made no store"
mkdir "$tmp/rw"
bltfs_mount "$s" "$tmp/ro" -o ro,lock_timeout=1
python3 "$drive" drive "$s" "$tmp/rw" "$tmp/ro" "$tmp" "$SEED" "$STEPS" \
    "$PY" "$BLTFS" "$daemons" || {
	# HISTORY_KEEP=FILE keeps the store a failing history left
	[ -z "${HISTORY_KEEP:-}" ] || cp "$s" "$HISTORY_KEEP"
	fail "the history (SEED=$SEED)"
}
bltfs_umount "$tmp/ro"
check_store "$s"
# why the reads that failed (EBUSY) failed, as the daemons logged them,
# counted by cause: where in the history they fall
cat "$tmp/rw.log" "$tmp"/log.* 2>/dev/null |
	sed -n 's/^.*: key [^ ]*: //p' | sed 's/(pid [0-9]*)/(pid)/' |
	sort | uniq -c | sort -rn |
	sed 's/^ *\([0-9]*\) /mount-history: refused \1 times: /'
echo "mount-history: ok"
