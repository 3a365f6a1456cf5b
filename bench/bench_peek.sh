#!/bin/sh
# A Python writer that holds its store open beside busy readers (issue 66):
# the reference writes WRITE keys with sync() every 100,000, holding the
# store all along, once with no mount and once while `find`, `grep -r` and
# random `cat`s run through a read-write and a read-only mount.  Prints the
# readers' latencies (p50, p99, max), the lag from each sync to both mounts
# showing its last key, the writer's wait to open and its rate against the
# run with no mount.  See doc/benchmarks.md, "A writer holding the store".
#
# usage: bench_peek.sh BLT BLTFS PY DIR [KEYS] [WRITE]
#   BLT, BLTFS  the programs; PY runs Python with the reference booklet
#   DIR         work directory (a real disk: /var/tmp); removed at the end
#   KEYS        keys loaded into the store first (1000000)
#   WRITE       keys the writer writes in each run (500000)
#
# PIN=1 in the environment runs the writer on CPU 0 in both runs and the
# mounts and readers on CPU 1 (taskset): on a 2-core machine the rate
# then measures what the mounts make the writer wait for, not the CPU
# they share with it.  BLTFS_OPTS in the environment is given to both
# mounts as -o BLTFS_OPTS (spin=0, say).  READERS=0 runs the mounts with
# no readers: what following the writer alone costs it.
set -eu

[ $# -ge 4 ] || { sed -n '10,19p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
BLT=$1 BLTFS=$2 PY=$3 DIR=$4
KEYS=${5:-1000000} WRITE=${6:-500000}
mkdir -p "$DIR"
work=$(mktemp -d "$DIR/peek.XXXXXX")
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

# KEYS keys in 1,000 directories, str keys, bytes values of 100 bytes
load()
{
	awk -v n="$KEYS" 'BEGIN { v = sprintf("%0200d", 0)
	for (i = 0; i < n; i++)
		printf "{\"key\": \"d%03d/k%08d\", \"value_hex\": \"%s\"}\n",
		    i % 1000, i, v }' |
		"$BLT" load --create --key-serializer str \
		    --value-serializer bytes "$1" >/dev/null
}

# write STORE MOUNTS...: the writer, holding STORE for WRITE keys, a sync
# every 100,000; with mounts, each sync's last key is watched for in them
wcpu=${PIN:+taskset -c 0}
write()
{
	$wcpu "$PY" - "$WRITE" "$@" <<'PY'
import booklet, os, statistics, sys, threading, time
n, store, mounts = int(sys.argv[1]), sys.argv[2], sys.argv[3:]
t = time.monotonic()
db = booklet.open(store, 'w')
opened = time.monotonic() - t
lags = []
def watch(key, synced):
    for m in mounts:
        p = os.path.join(m, key)
        while not os.path.exists(p):
            time.sleep(0.001)
    lags.append(time.monotonic() - synced)
watchers = []
t = time.monotonic()
for i in range(n):
    db[f'w{i % 1000:03d}/k{i:08d}'] = b'w' * 100
    if (i + 1) % 100000 == 0:
        db.sync()
        if mounts:
            w = threading.Thread(target=watch,
                                 args=(f'w{i % 1000:03d}/k{i:08d}', time.monotonic()))
            w.start()
            watchers.append(w)
db.close()
took = time.monotonic() - t
for w in watchers:
    w.join()
print(f'open {opened:.3f} s, {n / took:,.0f} keys/s', end='')
if lags:
    print(f', sync shown: median {statistics.median(lags) * 1000:.0f} ms, '
          f'max {max(lags) * 1000:.0f} ms', end='')
print()
PY
}

s0=$work/alone.blt
load "$s0"
sync
echo "no mount: $(write "$s0")"
rm -f "$s0"

s=$work/s.blt
load "$s"
sync
# the mounts and readers, which inherit this shell's CPU
[ -z "${PIN:-}" ] || taskset -cp 1 $$ >/dev/null
"$BLTFS" "$s" "$rw" ${BLTFS_OPTS:+-o "$BLTFS_OPTS"}
"$BLTFS" "$s" "$ro" -o ro${BLTFS_OPTS:+,$BLTFS_OPTS}
# the readers: find and grep -r of one mount each, in loops, and random
# cats of both, timed one by one
stop=$work/stop
if [ "${READERS:-1}" != 0 ]; then
	(while [ ! -e "$stop" ]; do find "$rw" -type f | wc -l >/dev/null; done) &
	(while [ ! -e "$stop" ]; do grep -rc x "$ro/d001" >/dev/null || :; done) &
fi
python3 - "$KEYS" "$rw" "$ro" "$stop" "${READERS:-1}" >"$work/cats" <<'PY' &
import os, random, sys, time
n, rw, ro, stop = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
readers = sys.argv[5] != '0'
rng = random.Random(1)
took = []
errors = 0
while readers and not os.path.exists(stop):
    i = rng.randrange(n)
    m = rw if len(took) % 2 else ro
    t = time.monotonic()
    try:
        with open(f'{m}/d{i % 1000:03d}/k{i:08d}', 'rb') as f:
            f.read()
    except OSError:
        errors += 1
    took.append(time.monotonic() - t)
if not took:
    sys.exit()
took.sort()
q = lambda p: took[min(len(took) - 1, int(p * len(took)))] * 1000
print(f'{len(took)} cats: p50 {q(0.5):.2f} ms, p99 {q(0.99):.2f} ms, '
      f'max {took[-1] * 1000:.1f} ms, {errors} failed')
PY
cats=$!
# the CPU each mount's daemon takes during the writer's run: on two cores
# it is taken from the writer and the readers alike
cpu()
{
	awk '{ printf "%.2f", ($14 + $15) / '"$(getconf CLK_TCK)"' }' \
	    "/proc/$1/stat"
}
rwpid=$(pgrep -f "^$BLTFS $s $rw")
ropid=$(pgrep -f "^$BLTFS $s $ro")
rw0=$(cpu "$rwpid") ro0=$(cpu "$ropid")
beside="beside busy readers"
[ "${READERS:-1}" != 0 ] || beside="beside the mounts, no readers"
echo "$beside: $(write "$s" "$rw" "$ro")"
echo "mounts' CPU meanwhile: read-write $(echo "$(cpu "$rwpid") - $rw0" | bc) s," \
    "-o ro $(echo "$(cpu "$ropid") - $ro0" | bc) s"
touch "$stop"
wait
cat "$work/cats"
