#!/bin/sh
# A mount beside a Python pipeline (issue 60): how long after a batch of
# the reference booklet closes the store the mount shows it, through the
# kernel, as a user's `ls` or `cat` would find it.  See doc/benchmarks.md,
# "Beside the pipeline".
#
# usage: bench_beside.sh BLT BLTFS PY DIR [KEYS] [BATCHES] [BATCH]
#   BLT, BLTFS  the programs; PY runs Python with the reference booklet
#   DIR         work directory (a real disk: /var/tmp); removed at the end
#   KEYS        keys loaded into the store first (1000000)
#   BATCHES     batches the pipeline writes (20), each of BATCH keys
#               (20000): open 'w', the keys, close
#
# Before each batch the mounts must have let the store go (/proc/locks):
# Debian's booklet does not wait for the lock.  Each batch is written by
# one Python process, which then stats the batch's last key through both
# mounts at once (a read-write one and a read-only one of the same store)
# until it is there, and prints the times from its close.  The mount finds
# the change either when a request comes (this stat) or by its own poll,
# every 0.1 s, whichever is first.
set -eu

[ $# -ge 4 ] || { sed -n '7,13p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
BLT=$1 BLTFS=$2 PY=$3 DIR=$4
KEYS=${5:-1000000} BATCHES=${6:-20} BATCH=${7:-20000}
mkdir -p "$DIR"
work=$(mktemp -d "$DIR/beside.XXXXXX")
s=$work/s.blt
rw=$work/rw
ro=$work/ro
mkdir "$rw" "$ro"
cleanup()
{
	fusermount3 -u "$rw" 2>/dev/null || :
	fusermount3 -u "$ro" 2>/dev/null || :
	rm -rf "$work"
}
trap cleanup EXIT

# the store: KEYS keys in 1,000 directories, str keys, pickle values
t0=$(date +%s.%N)
awk -v n="$KEYS" 'BEGIN { for (i = 0; i < n; i++)
	printf "{\"key\": \"d%03d/k%08d\", \"value_hex\": \"80054e2e\"}\n", i % 1000, i }' |
	"$BLT" load --create --key-serializer str --value-serializer pickle "$s" >/dev/null
t1=$(date +%s.%N)
echo "loaded $KEYS keys: $(echo "$t1 - $t0" | bc) s, $(du -h "$s" | cut -f1)"
"$BLTFS" "$s" "$rw"
"$BLTFS" "$s" "$ro" -o ro
ino=$(stat -c %i "$s")

i=0
: >"$work/times"
while [ $i -lt "$BATCHES" ]; do
	n=0
	while grep -q ":$ino " /proc/locks; do # the mounts are idle within 0.6 s
		n=$((n + 1))
		[ $n -lt 100 ] || { echo "the store stays locked" >&2; exit 1; }
		sleep 0.05
	done
	"$PY" - "$s" "$rw" "$ro" "$i" "$BATCH" >>"$work/times" <<'PY'
import booklet, os, sys, threading, time
store, rw, ro, i, n = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
t = time.monotonic()
db = booklet.open(store, 'w')
opened = time.monotonic() - t
for j in range(n):
    db[f'b{i}/k{j}'] = {'i': i, 'j': j}
db.close()
closed = time.monotonic()
seen = {}
def watch(m):
    p = os.path.join(m, f'b{i}', f'k{n - 1}')
    while not os.path.exists(p):
        pass
    seen[m] = time.monotonic() - closed
ts = [threading.Thread(target=watch, args=(m,)) for m in (rw, ro)]
for t in ts:
    t.start()
for t in ts:
    t.join()
print(f'{opened * 1000:.2f} {seen[rw] * 1000:.1f} {seen[ro] * 1000:.1f}')
PY
	i=$((i + 1))
done
# median and max of column $1 of the times
stat()
{
	sort -n -k"$1" "$work/times" | awk -v c="$1" '
		{ v[NR] = $c } END { printf "median %.1f ms, max %.1f ms\n", v[int((NR + 1) / 2)], v[NR] }'
}
echo "store of $KEYS keys, $BATCHES batches of $BATCH keys"
echo "pipeline open: $(stat 1 | sed 's/.*max/at most/')"
echo "shown by the read-write mount after the close: $(stat 2)"
echo "shown by the read-only mount after the close:  $(stat 3)"
grep -h '"followed"' "$rw/.bltfs/status" "$ro/.bltfs/status" | sed 's/^ */followed: /'
