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
# every 0.1 s, whichever is first.  Then the pipeline prunes the store,
# and the mounts' rescans of it are timed (not with PRUNE=0 in the
# environment).
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

# free_lock: wait until the mounts are idle and have let the store go
free_lock()
{
	n=0
	while grep -q ":$ino " /proc/locks; do # the mounts are idle within 0.6 s
		n=$((n + 1))
		[ $n -lt 100 ] || { echo "the store stays locked" >&2; exit 1; }
		sleep 0.05
	done
}

i=0
: >"$work/times"
while [ $i -lt "$BATCHES" ]; do
	free_lock
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

# A prune in place by the pipeline (it deleted 1,000 keys first): each
# mount rescans the store in steps (fs/ctl/rescan.c).  Meanwhile a stat of
# a random file through each mount runs back to back, and the pipeline
# tries to open the store for reading every 0.2 s; the times are from the
# prune's close to each mount's status saying no rescan is under way.
[ "${PRUNE:-1}" = 1 ] || exit 0
free_lock
"$PY" - "$s" "$rw" "$ro" "$KEYS" <<'PY'
import booklet, json, os, random, sys, threading, time
store, rw, ro, keys = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
with booklet.open(store, 'w') as db:
    for i in range(1000):
        del db[f'd{i % 1000:03d}/k{i:08d}']
    t = time.monotonic()
    db.prune()
    pruned = time.monotonic() - t
closed = time.monotonic()
done, slowest, opens = {}, {}, [0, 0]
def rescan(m):
    with open(os.path.join(m, '.bltfs', 'status')) as f:
        return json.load(f)['followed']['rescan']
def watch(m):
    # the rescan starts at the mount's next poll, within 0.1 s
    while rescan(m) == 'none' and time.monotonic() - closed < 1:
        pass
    while rescan(m) != 'none':
        time.sleep(0.01)
    done[m] = time.monotonic() - closed
def probe(m):
    worst = 0
    while m not in done:
        i = random.randrange(1000, keys)
        t = time.monotonic()
        os.stat(os.path.join(m, f'd{i % 1000:03d}', f'k{i:08d}'))
        worst = max(worst, time.monotonic() - t)
    slowest[m] = worst
def pipeline():
    while len(done) < 2:
        try:
            booklet.open(store, 'r').close()
            opens[0] += 1
        except Exception:
            opens[1] += 1
        time.sleep(0.2)
ts = [threading.Thread(target=f, args=(m,)) for m in (rw, ro) for f in (watch, probe)]
ts.append(threading.Thread(target=pipeline))
for t in ts:
    t.start()
for t in ts:
    t.join()
print(f'prune by the pipeline: {pruned:.1f} s; followed by the read-write mount in '
      f'{done[rw]:.2f} s (slowest stat meanwhile {slowest[rw] * 1000:.1f} ms), '
      f'by the read-only one in {done[ro]:.2f} s (slowest stat {slowest[ro] * 1000:.1f} ms); '
      f'the pipeline opened the store {opens[0]} times meanwhile, refused {opens[1]}')
PY
grep -h '"followed"' "$rw/.bltfs/status" "$ro/.bltfs/status" | sed 's/^ */followed: /'
