#!/bin/sh
# What an overwrite's two fsyncs cost (issue 67, item 1): an overwrite
# fsyncs the blocks it appended before it links them, and the links
# before it tombstones the old blocks, so that a power cut in any
# write-back order keeps the committed value.  A flush of new keys alone
# syncs nothing more.  Measured the two ways writes come:
#
#   load    blt load of N keys into a new store, then of the same N keys
#           again, every one an overwrite (a flush each 4 MiB buffer)
#   mount   cp -r of FILES small files into a mount, then the same again
#           over them: a flush at every close, each an overwrite
#
# Run it once per build on the same disk (a real one: ext4 under
# /var/tmp) and compare.  See doc/benchmarks.md, "Overwrites and
# write-back order".
#
# usage: bench_overwrite.sh BLT BLTFS LOADGEN DIR [N] [FILES]
set -eu

[ $# -ge 4 ] || { sed -n '17p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
BLT=$1 BLTFS=$2 LOADGEN=$3 DIR=$4
N=${5:-1000000} FILES=${6:-2000}
mkdir -p "$DIR"
work=$(mktemp -d "$DIR/overwrite.XXXXXX")
mnt=$work/m
mkdir "$mnt" "$work/src"
cleanup()
{
	fusermount3 -u "$mnt" 2>/dev/null || :
	rm -rf "$work"
}
trap cleanup EXIT
now() { date +%s.%N; }
rate() { awk -v n="$1" -v a="$2" -v b="$3" \
	'BEGIN { printf "%.2f s, %.0f a second", b - a, n / (b - a) }'; }

"$LOADGEN" "$N" "$N" 2>/dev/null >"$work/lines"
"$BLT" create "$work/s.blt"
sync
t0=$(now)
"$BLT" load "$work/s.blt" <"$work/lines"
sync
t1=$(now)
"$BLT" load "$work/s.blt" <"$work/lines"
sync
t2=$(now)
echo "load of $N new keys: $(rate "$N" "$t0" "$t1")"
echo "load of $N overwrites: $(rate "$N" "$t1" "$t2")"

i=0
while [ $i -lt "$FILES" ]; do
	printf 'file %d, %0100d\n' $i 0 >"$work/src/f$i"
	i=$((i + 1))
done
"$BLT" create "$work/m.blt"
"$BLTFS" "$work/m.blt" "$mnt"
sync
t0=$(now)
cp -r "$work/src" "$mnt/d"
sync
t1=$(now)
cp -r "$work/src/." "$mnt/d"
sync
t2=$(now)
echo "cp -r of $FILES new files: $(rate "$FILES" "$t0" "$t1")"
echo "cp -r of $FILES files over them: $(rate "$FILES" "$t1" "$t2")"
cmp -s "$work/src/f7" "$mnt/d/f7" || { echo "d/f7 differs" >&2; exit 1; }
