#!/bin/sh
# Reads and creates of small files while a big file is written beside
# them, on tmpfs and on bltfs (and on a second bltfs build, to compare
# revisions); prints their latencies.  See doc/benchmarks.md, section
# "Reads during a big write".
#
# usage: bench_stall.sh BENCH_STALL BLTFS [options]
#   -r N          repetitions (3)
#   --files N     small files read in turn (5000)
#   --mib N       size of the big file in MiB (1024)
#   --old BLTFS   another bltfs to run the same way (say, of main);
#                 repeatable, labelled old1, old2, ...
#
# The store and the tmpfs tree live in a new directory in /dev/shm.  The
# reads use O_DIRECT on the mount, so that each reaches the daemon.
set -eu

[ $# -ge 2 ] || { sed -n '7,11p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
abs() { echo "$(cd "$(dirname "$1")" && pwd)/$(basename "$1")"; }
STALL=$(abs "$1")
BLTFS=$(abs "$2")
shift 2
reps=3 files=5000 mib=1024 old=
while [ $# -gt 0 ]; do
	case $1 in
	-r) reps=$2; shift ;;
	--files) files=$2; shift ;;
	--mib) mib=$2; shift ;;
	--old) old="$old $(abs "$2")"; shift ;;
	*) echo "bench_stall.sh: unknown option $1" >&2; exit 2 ;;
	esac
	shift
done

work=$(mktemp -d /dev/shm/bench-stall.XXXXXX)
mnt=$work/m
cleanup()
{
	fusermount3 -u "$mnt" 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT INT TERM
mkdir -p "$work/tmpfs" "$mnt"
"$STALL" make "$work/tmpfs" "$files"
"$BLTFS" "$work/s.blt" "$mnt"
"$STALL" make "$mnt" "$files"
fusermount3 -u "$mnt"

# one run of the daemon $2, labelled $1
bltfs_run()
{
	"$2" "$work/s.blt" "$mnt"
	printf '%-10s %s\n' "$1" "$("$STALL" run "$mnt" "$files" "$mib")"
	fusermount3 -u "$mnt"
}

echo "reads of $files files and creates of new ones (1,000 bytes) while $mib MiB are written"
for i in $(seq "$reps"); do
	printf '%-10s %s\n' tmpfs "$("$STALL" run "$work/tmpfs" "$files" "$mib")"
	bltfs_run bltfs "$BLTFS"
	k=0
	for o in $old; do
		k=$((k + 1))
		bltfs_run "old$k" "$o"
	done
done
