#!/bin/sh
# Run bench_engine (libbooklet against LMDB) and say first what it ran on,
# so that a result pasted into doc/benchmarks.md carries its machine.
#
# usage: run-engine.sh [PATH/TO/bench_engine] [bench_engine options]
# `make bench` runs it from the build directory; BENCH_ENGINE_ARGS there
# are passed on (e.g. make bench BENCH_ENGINE_ARGS='-n 100000').
set -eu

prog=./bench/bench_engine
case ${1-} in
-*|'') ;;
*) prog=$1; shift ;;
esac
if [ ! -x "$prog" ]; then
	echo "run-engine.sh: $prog: not built (make bench builds it)" >&2
	exit 1
fi

# The directory the stores go to, for df: -d DIR, else $TMPDIR or /tmp.
dir=${TMPDIR:-/tmp}
prev=
for a in "$@"; do
	[ "$prev" = -d ] && dir=$a
	case $a in -d?*) dir=${a#-d} ;; esac
	prev=$a
done

echo "date:    $(date -u '+%Y-%m-%d %H:%M UTC')"
echo "host:    $(uname -srm)"
echo "cpu:     $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo |
	head -n 1), $(nproc) online"
echo "memory:  $(awk '/^MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' \
	/proc/meminfo)"
echo "load:    $(cut -d' ' -f1-3 /proc/loadavg) (1, 5, 15 min; other work skews the numbers)"
echo "command: $prog $*"
echo "df -T $dir:"
df -T "$dir" | sed 's/^/  /'
echo
rc=0
"$prog" "$@" || rc=$?
# The Python booklet's published figures are for 50,000 items: unless a
# size was asked for, compare with them at that size too.
case " $* " in
*" -n"*) ;;
*)
	echo
	echo "command: $prog $* -n 50000 --only blt"
	"$prog" "$@" -n 50000 --only blt || rc=$?
	;;
esac
# A single get is two dependent loads (bucket slot, then block); what one
# costs on this machine bounds "random get (hit)" from below.
latency=$(dirname "$prog")/bench_latency
if [ -x "$latency" ]; then
	echo
	echo "Dependent random loads on this machine (bench_latency): a single"
	echo "get makes two within the store's file (13 MiB at 50,000 keys,"
	echo "250 MiB at 1,000,000), plus the key's digest:"
	"$latency" -s 1 -s 4 -s 16 -s 64 -s 256 || rc=$?
fi
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
exit $rc
