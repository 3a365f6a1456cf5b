#!/bin/sh
# A pipeline that closes its store and opens it again, beside busy
# readers (issue 66): the reference booklet opens the store for writing
# REOPENS times, each time overwriting BATCH keys and closing, every fifth
# time pruning too, and waits between two runs a pause drawn from 0 to
# 3 s, which spans the moment a mount used to take the lock to follow it
# (2 s after the last change).  Meanwhile two readers per mount, a
# read-write one and a read-only one, cat random keys in a loop.  Debian's
# booklet fails at once on a lock it finds held, so every open that met a
# mount's lock is counted as failed.  Prints the opens that failed, the
# slowest open, the reads, those that failed (EBUSY and others) and those
# that gave a value not written for that key, and the locks each mount
# took.  See doc/benchmarks.md, "Reopened beside busy readers".
#
# usage: bench_reopen.sh BLT BLTFS PY DIR [KEYS] [REOPENS] [BATCH]
#   BLT, BLTFS  the programs; PY runs Python with the reference booklet
#   DIR         work directory (a real disk: /var/tmp); removed at the end
#   KEYS        keys in the store (100000), values naming key and version
#   REOPENS     runs of the pipeline (120), each overwriting BATCH (2000)
set -eu

[ $# -ge 4 ] || { sed -n '15,19p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
BLT=$1 BLTFS=$2 PY=$3 DIR=$4
KEYS=${5:-100000} REOPENS=${6:-120} BATCH=${7:-2000}
mkdir -p "$DIR"
work=$(mktemp -d "$DIR/reopen.XXXXXX")
s=$work/s.blt
rw=$work/rw
ro=$work/ro
mkdir "$rw" "$ro"
cleanup()
{
	touch "$work/stop"
	wait 2>/dev/null || :
	fusermount3 -u "$rw" 2>/dev/null || :
	fusermount3 -u "$ro" 2>/dev/null || :
	rm -rf "$work"
}
trap cleanup EXIT

"$PY" - "$s" "$KEYS" <<'PY'
import booklet, sys
path, n = sys.argv[1], int(sys.argv[2])
with booklet.open(path, 'n', key_serializer='str',
                  value_serializer='str') as db:
    for i in range(n):
        k = f'd{i % 100:02d}/k{i:07d}'
        db[k] = f'{k} v0 ' + 'x' * 100
PY
"$BLTFS" "$s" "$rw"
"$BLTFS" "$s" "$ro" -o ro

# reader MNT N: cats random keys until stopped; a line per read
# ("ok", "bad KEY", or the error)
reader()
{
	"$PY" - "$1" "$KEYS" "$work/stop" <<'PY'
import os, random, sys
mnt, n, stop = sys.argv[1], int(sys.argv[2]), sys.argv[3]
ok = bad = failed = 0
errs = {}
while not os.path.exists(stop):
    i = random.randrange(n)
    k = f'd{i % 100:02d}/k{i:07d}'
    try:
        with open(os.path.join(mnt, k), 'rb') as f:
            v = f.read()
    except OSError as e:
        failed += 1
        errs[e.strerror] = errs.get(e.strerror, 0) + 1
        continue
    if v.startswith(f'{k} v'.encode()):
        ok += 1
    else:
        bad += 1
print(ok, bad, failed, ' '.join(f'{k}:{v}' for k, v in errs.items()))
PY
}
for m in "$rw" "$rw" "$ro" "$ro"; do
	reader "$m" >>"$work/reads" &
done

"$PY" - "$s" "$KEYS" "$REOPENS" "$BATCH" <<'PY' >"$work/opens"
import booklet, random, sys, time
path, n, runs, batch = sys.argv[1], *map(int, sys.argv[2:])
failed, slowest = 0, 0.0
pauses = [0, 0.5, 1.0, 1.8, 1.9, 2.0, 2.05, 2.1, 2.2, 2.5, 3.0]
for r in range(1, runs + 1):
    t = time.monotonic()
    try:
        db = booklet.open(path, 'w')
    except Exception as e:
        failed += 1
        time.sleep(0.05)
        continue
    slowest = max(slowest, time.monotonic() - t)
    with db:
        for i in random.sample(range(n), batch):
            k = f'd{i % 100:02d}/k{i:07d}'
            db[k] = f'{k} v{r} ' + 'y' * random.randrange(200)
        if r % 5 == 0:
            db.prune()
    time.sleep(random.choice(pauses))
print(runs, failed, f'{slowest:.3f}')
PY
touch "$work/stop"
wait
read -r runs failed slowest <"$work/opens"
awk -v runs="$runs" -v failed="$failed" -v slowest="$slowest" '
{ ok += $1; bad += $2; err += $3; for (i = 4; i <= NF; i++) e = e " " $i }
END {
	printf "%d opens of the pipeline, %d failed (a lock held), slowest %s s\n",
	    runs, failed, slowest
	printf "%d reads: %d failed%s, %d gave a value not written for the key\n",
	    ok + bad + err, err, e, bad
}' "$work/reads"
for m in "$rw" "$ro"; do
	python3 -c 'import json, sys
v = json.load(open(sys.argv[1] + "/.bltfs/status"))
print(sys.argv[1].rsplit("/", 1)[1] + ": lock taken", v["lock_taken"], "times,",
      v["lock_taken_to_follow"], "to follow,", v["lock_taken_by_reads"],
      "by reads that waited")' "$m"
done
