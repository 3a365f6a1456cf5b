#!/bin/bash
# How the engine's bulk write holds up as a store outgrows the kernel's
# dirty-page threshold (issue 58): blt load of N keys in bench_scale.sh's
# layout into a new store in DIR, which should be on a real disk (ext4
# under /var/tmp), not tmpfs, which has no writeback.  Prints the rate of
# each STEP keys, the last step's rate as a share of the first's, and the
# sectors the store's device wrote during the load and a final sync
# (/proc/diskstats), as a multiple of the file's size.  The native peer:
# the same lines written by cat to a plain file on the same disk.
#
# usage: bench_write.sh BLT LOADGEN DIR N [STEP] [--buckets B]
#   --buckets B  the store's index size (default: booklet's, which grows)
set -euo pipefail
BLT=$1 LOADGEN=$2 dir=$3 n=$4
shift 4
step=$((n / 10))
if [ $# -gt 0 ] && [ "${1#--}" = "$1" ]; then step=$1; shift; fi
create=()
while [ $# -gt 0 ]; do
	case $1 in
	--buckets) create=(--buckets "$2"); shift ;;
	*) echo "bench_write.sh: unknown option $1" >&2; exit 2 ;;
	esac
	shift
done
store=$dir/bench-write.blt
steps=$(mktemp)
trap 'rm -f "$store" "$dir/bench-write.lines" "$steps"' EXIT

dev=$(df --output=source "$dir" | tail -1)
dev=${dev#/dev/}
written() { awk -v d="$dev" '$3 == d { print $10 }' /proc/diskstats; }
now() { date +%s.%N; }

# The peer: the bytes of the lines, written to a file on the same disk.
sync
s0=$(written) t0=$(now)
"$LOADGEN" "$n" "$n" 2>/dev/null >"$dir/bench-write.lines"
sync
t1=$(now) s1=$(written)
lines=$(stat -c %s "$dir/bench-write.lines")
rm -f "$dir/bench-write.lines"
awk -v t="$(echo "$t1 - $t0" | bc)" -v b="$lines" -v s=$((s1 - s0)) \
    'BEGIN { printf "native: %.1f MB of lines written in %.1f s (%.1f MB/s), disk wrote %.2fx\n",
	b / 1e6, t, b / 1e6 / t, s * 512 / b }'

rm -f "$store"
"$BLT" create "${create[@]}" "$store"
sync
s0=$(written) t0=$(now)
"$LOADGEN" "$n" "$step" 2>"$steps" | "$BLT" load "$store"
sync
t1=$(now) s1=$(written)
size=$(stat -c %s "$store")
printf '%12s %9s %12s\n' keys seconds "keys/s"
awk '{ printf "%12d %9.1f %12.0f\n", $2, $3, $4 }' "$steps"
awk -v t="$(echo "$t1 - $t0" | bc)" -v n="$n" -v b="$size" \
    -v s=$((s1 - s0)) '
	{ r[NR] = $4 }
	END {
		printf "load of %d keys: %.1f s with the final sync, %.0f keys/s; last step %.0f%% of the first\n",
		    n, t, n / t, 100 * r[NR] / r[1]
		printf "file %.2f GB; disk wrote %.2f GB, %.2fx the file\n",
		    b / 1e9, s * 512 / 1e9, s * 512 / b
	}' "$steps"
