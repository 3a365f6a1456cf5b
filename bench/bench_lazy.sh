#!/bin/sh
# A lazy mount (-o lazy) against a mount that builds its index first, on
# one store (issue 39).  RUNS times each way, taking turns, with the store
# read into the page cache first and the time to read it (dd) beside:
#   ready      bltfs started until it returned (the mount is up)
#   first cat  ... until a cat of KEY answered
#   ls         ... until an ls of the root answered (the index is built)
#   anon       the daemon's anonymous memory then
# Then one lazy mount more, with cats of random keys d%03d/%09d (NKEYS
# keys round 1,000 directories, as bench_scale.sh and gen100m write them)
# one after another while the index is built, each followed by a read of
# the status file: how many, the slowest, and when the build ended.
# With LATE, a key of a directory the scan meets late, RUNS lazy mounts
# more: when a cat of LATE answered, then a cat of a name the store has
# not (LATE with "-none" added), when status said every directory was
# known (the first pass) and when it said built (polled every 10 ms), and
# how many keys the sample those lookups read had (fs/indexer/sample.c).  Then RUNS
# lazy mounts with no cat, "idle": the first pass when no lookup reads a
# sample.
# Then RUNS lazy mounts the same way with the directory hints a mount
# without -o lazy kept (fs/indexer/dir-hints.c, in a cache directory of the run's
# own), each after a touch of the store, which a write would do too: its
# index cache is then not used, its hints are.  Last, RUNS lazy mounts
# after blt (BLT, default: beside BLTFS in the build) appended 1,000 keys
# in a new directory grownN/, with LATE grownN/000999: a store that only
# grew since the hints, and outgrew its first index (as blt create's
# default index and the Python booklet's do), needs no first pass.  Each
# run's build keeps the hints again, of the store as it grew.
# usage: bench_lazy.sh BLTFS STORE KEY [RUNS [NKEYS [LATE]]]
set -eu

[ $# -ge 3 ] || { sed -n '2,29p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
BLTFS=$1
S=$2
K=$3
RUNS=${4:-3}
NKEYS=${5:-100000000}
LATE=${6:-}
BLT=${BLT:-$(dirname "$BLTFS")/../src/blt/blt}
M=$(mktemp -d /tmp/bench-lazy.XXXXXX)
trap 'fusermount3 -u "$M" 2>/dev/null || true; rmdir "$M"' EXIT
now() { date +%s%N; }

# umount_it: unmount, and wait for the daemon to be gone
umount_it()
{
	fusermount3 -u "$M"
	while pgrep -f "bltfs $S $M" >/dev/null; do sleep 0.05; done
}

for run in $(seq 1 "$RUNS"); do
	for mode in built lazy; do
		opt=noindex_cache
		[ "$mode" = built ] || opt=lazy,noindex_cache
		cat "$S" >/dev/null
		t0=$(now)
		dd if="$S" of=/dev/null bs=4M 2>/dev/null
		tdd=$(($(now) - t0))
		t0=$(now)
		"$BLTFS" "$S" "$M" -o "$opt"
		t1=$(now)
		cat "$M/$K" >/dev/null
		t2=$(now)
		ls "$M" >/dev/null
		t3=$(now)
		pid=$(pgrep -f "bltfs $S $M")
		anon=$(awk '/RssAnon/ { print $2 }' "/proc/$pid/status")
		umount_it
		awk -v m="$mode" -v d="$tdd" -v a=$((t1 - t0)) \
		    -v b=$((t2 - t0)) -v c=$((t3 - t0)) -v r="$anon" 'BEGIN {
			printf "%-5s dd %.3f  ready %.3f  first cat %.3f " \
			    "(%.2fx dd)  ls %.3f (%.1fx dd)  anon %d MB\n",
			    m, d / 1e9, a / 1e9, b / 1e9, b / d, c / 1e9,
			    c / d, r / 1024 }'
	done
done

t0=$(now)
"$BLTFS" "$S" "$M" -o lazy,noindex_cache
max=0
n=0
for i in $(seq 1 40); do
	k=$(awk -v i="$i" -v n="$NKEYS" 'BEGIN { srand(i)
		k = int(rand() * n); printf "d%03d/%09d", k % 1000, k }')
	a=$(now)
	cat "$M/$k" >/dev/null
	d=$((($(now) - a) / 1000000))
	n=$((n + 1))
	[ "$d" -le "$max" ] || max=$d
	grep -q '"state": "built"' "$M/.bltfs/status" && break
done
ls "$M" >/dev/null
echo "lazy: $n cats while the index was built, the slowest $max ms;" \
    "built at $((($(now) - t0) / 1000000)) ms"
umount_it

[ -n "$LATE" ] || exit 0
ms() { echo $((($(now) - t0) / 1000000)); }
# late_runs HOW OPTIONS: the runs with LATE
late_runs()
{
	for run in $(seq 1 "$RUNS"); do
		[ "$1" = late ] || touch "$S"
		late_run "$@"
	done
}
late_run()
{
	cat "$S" >/dev/null
	t0=$(now)
	"$BLTFS" "$S" "$M" -o "$2"
	late=- none=-
	if [ "$1" != idle ]; then
		cat "$M/$LATE" >/dev/null
		late=$(ms)
		! cat "$M/$LATE-none" 2>/dev/null
		none=$(ms)
	fi
	until grep -q '"directories_known": true' "$M/.bltfs/status"; do
		sleep 0.01
	done
	known=$(ms)
	until grep -q '"state": "built"' "$M/.bltfs/status"; do
		sleep 0.01
	done
	built=$(ms)
	hinted=$(sed -n 's/.*"directories_hinted": \([0-9]*\).*/\1/p' \
	    "$M/.bltfs/status")
	since=$(sed -n 's/.*"directories_since_hints": \([a-z]*\).*/\1/p' \
	    "$M/.bltfs/status")
	sampled=$(sed -n 's/.*"keys_sampled": \([0-9]*\).*/\1/p' \
	    "$M/.bltfs/status")
	umount_it
	echo "$1: cat $LATE at $late ms, a missing name at $none ms," \
	    "every directory known at $known ms, built at $built ms;" \
	    "$hinted directories hinted; since the hints: $since;" \
	    "$sampled keys sampled"
}
late_runs late lazy,noindex_cache
late_runs idle lazy,noindex_cache
XDG_CACHE_HOME=$(mktemp -d /tmp/bench-lazy-cache.XXXXXX)
export XDG_CACHE_HOME
trap 'fusermount3 -u "$M" 2>/dev/null || true; rmdir "$M"
	rm -rf "$XDG_CACHE_HOME"' EXIT
"$BLTFS" "$S" "$M" # keeps the hints
umount_it
late_runs hinted lazy
for run in $(seq 1 "$RUNS"); do
	awk -v r="$run" 'BEGIN { for (i = 0; i < 1000; i++)
		printf "{\"key\":\"grown%d/%06d\",\"value\":\"%0100d\"}\n",
		    r, i, i }' | "$BLT" load "$S"
	LATE=grown$run/000999
	late_run grown lazy
done
