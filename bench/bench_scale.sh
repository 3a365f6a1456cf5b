#!/bin/sh
# How a mount grows with its store (issue 39).  For each number of keys N,
# a store of N keys in 1,000 directories (--dirs) plus a directory "big"
# of 100,000, 100-byte values, made by blt load; then, against the time
# to read the store file from the page cache (dd), read-write (rw) and
# read-only (ro) with the index made by a scan, read-write with -o lazy
# (lazy: the index built while the mount answers), and read-write with the
# index read from the index cache that a mount before it kept (cache):
#   mount     bltfs started until it is ready (its index built) and an ls
#             of the root answered
#   first cat (lazy) bltfs started until a cat of one random file answered,
#             before the index is built
#   anon/key  the daemon's anonymous memory (RssAnon) per key after the
#             mount, and after find
#   find      find MNT | wc -l, checked against N + directories
#   ls -l     ls -l of big/ (100,000 entries), first listing; ls-cpu,
#             the daemon's CPU time over it (every thread's, schedstat)
#   cat       1,000 random files read by one cat, checked byte for byte
#   get       blt get of 100 random keys, per get (a process each)
# and the size of the index cache's file per key.  With --prune, then a
# tenth of the keys are written again and the mount prunes the store:
#   cp        a copy of the store file to one beside it (the bytes a
#             prune reads and most of those it writes)
#   prune     bltfs ctl MNT prune --wait, from start to its end
#   peak/key  the daemon's anonymous memory per key at its highest during
#             the prune (sampled every 10 ms), and after it
#   find, cat as above, after the prune: every name, the new values
# With --map PLUGIN, then bltfs ctl MNT map --plugin PLUGIN:plugin_identity
# (bench/plugin_identity.so) of every file: its time and items a second,
# the daemon's peak and after as for the prune, and find and cat after.
# usage: bench_scale.sh BLT BLTFS [-d DIR] [--keys "N ..."] [--dirs D]
#        [--cache DIR] [--prune] [--map PLUGIN] [--load-dir DIR] [--keep]
#   -d DIR        work directory (default: a new one under /var/tmp);
#                 removed at the end, with each store once it has been
#                 measured, unless --keep.  A store of 100M keys is 16 GB:
#                 doc/benchmarks.md ran it on tmpfs, where blt load takes
#                 5 minutes (on ext4 it slowed to 4 MB/s past 30M keys)
#   --load-dir DIR  where the stores are loaded (tmpfs) before they move
#                 to the work directory (a disk, with room for the
#                 prune's second copy of 100M keys)
#   --keys LIST   numbers of keys (default "1000000 10000000")
#   --dirs D      directories the N keys are spread over (default 1000;
#                 1 puts them all in one directory)
#   --cache DIR   the index cache's directory (default DIR/cache; 100M
#                 keys make a file of 3.1 GB, which may not fit beside
#                 the store on tmpfs)
#   --prune       the prune stage (needs room for a second copy of the
#                 store in DIR)
#   --map PLUGIN  the map stage (the store grows by its size again)
set -eu

[ $# -ge 2 ] || { sed -n '2,49p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
BLT=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
BLTFS=$(cd "$(dirname "$2")" && pwd)/$(basename "$2")
shift 2
work=
sizes="1000000 10000000"
ndirs=1000
keep=0
cache=
prune=0
plugin=
loaddir=
while [ $# -gt 0 ]; do
	case $1 in
	-d) work=$2; shift ;;
	--keys) sizes=$2; shift ;;
	--dirs) ndirs=$2; shift ;;
	--cache) cache=$2; shift ;;
	--keep) keep=1 ;;
	--prune) prune=1 ;;
	--map) plugin=$(cd "$(dirname "$2")" && pwd)/$(basename "$2"); shift ;;
	--load-dir) loaddir=$2; shift ;;
	*) echo "bench_scale.sh: unknown option $1" >&2; exit 2 ;;
	esac
	shift
done
[ -n "$work" ] || work=$(mktemp -d /var/tmp/bench-scale.XXXXXX)
mkdir -p "$work/mnt"
MNT=$work/mnt
XDG_CACHE_HOME=${cache:-$work/cache} # the index cache (-o index_cache)
export XDG_CACHE_HOME
pid=
cleanup()
{
	fusermount3 -u "$MNT" 2>/dev/null || true
	[ -z "$pid" ] || wait "$pid" 2>/dev/null || true
	[ "$keep" = 1 ] || rm -rf "$work"
}
trap cleanup EXIT INT TERM

now() { date +%s%N; }
secs() { awk -v ns="$1" 'BEGIN { printf "%.3f", ns / 1e9 }'; }
anon() { awk '/^RssAnon:/ { printf "%.0f\n", $2 * 1024 }' "/proc/$1/status"; }
cpu_ns() { cat /proc/"$1"/task/*/schedstat | awk '{ s += $1 } END { printf "%.0f\n", s }'; }

# gen N: the lines of blt load; the value of key number i is i in 100
# digits, so that a cat can be checked.
gen()
{
	awk -v n="$1" -v dirs="$ndirs" 'BEGIN {
		for (i = 0; i < n; i++)
			printf "{\"key\":\"d%03d/%09d\",\"value\":\"%0100d\"}\n",
			    i % dirs, i, i
		for (i = 0; i < 100000; i++)
			printf "{\"key\":\"big/%06d\",\"value\":\"%0100d\"}\n",
			    i, i
	}'
}

# The lines that write every tenth of N keys again, with values that tell
# them from the first ones.
gen_again()
{
	awk -v n="$1" -v dirs="$ndirs" 'BEGIN {
		for (i = 0; i < n; i += 10)
			printf "{\"key\":\"d%03d/%09d\",\"value\":\"new%097d\"}\n",
			    i % dirs, i, i
	}'
}

# load GEN N: blt load of the lines GEN N prints into $store (made if it
# is not there), in --load-dir if one is given.
load()
{
	at=$store
	if [ -n "$loaddir" ]; then
		at=$loaddir/$(basename "$store")
		[ ! -e "$store" ] || mv "$store" "$at"
	fi
	[ -e "$at" ] || "$BLT" create --buckets 20736017 "$at"
	"$1" "$2" | "$BLT" load "$at"
	[ "$at" = "$store" ] || mv "$at" "$store"
}

mount_it() # STORE [OPTIONS [first]]: sets pid, t_mount (and t_first)
{
	rm -f "$work/ready"
	mkfifo "$work/ready"
	t0=$(now)
	"$BLTFS" "$1" "$MNT" -f -o ready_fd=3 ${2:+-o "$2"} \
	    3>"$work/ready" 2>>"$work/bltfs.log" &
	pid=$!
	r=$(head -c 1 "$work/ready")
	[ "$r" = 1 ] || { cat "$work/bltfs.log" >&2; exit 1; }
	if [ -n "${3:-}" ]; then
		first=$(head -n 1 "$work/paths")
		got=$(cat "$MNT/$first")
		t_first=$(($(now) - t0))
		[ "$got" = "$(head -c 100 "$work/want")" ] ||
			{ echo "first cat: wrong bytes" >&2; exit 1; }
	fi
	ls "$MNT" >/dev/null
	t_mount=$(($(now) - t0))
}

# find_all WHAT, cat_all WHAT: find of every name, and the 1,000 cats,
# checked (WHAT names the step in a complaint); they set t_find, t_cat.
find_all()
{
	t0=$(now)
	found=$(find "$MNT" | wc -l)
	t_find=$(($(now) - t0))
	[ "$found" = $((total + ndirs + 2)) ] ||
		{ echo "$1: $found names, want $((total + ndirs + 2))" >&2; exit 1; }
}

cat_all()
{
	t0=$(now)
	(cd "$MNT" && xargs cat <"$work/paths") >"$work/got"
	t_cat=$(($(now) - t0))
	cmp -s "$work/got" "$work/want" ||
		{ echo "$1: wrong bytes" >&2; exit 1; }
}

umount_it()
{
	fusermount3 -u "$MNT"
	wait "$pid"
	pid=
}

# The prune stage of N keys, on $store: a tenth of the keys written again,
# then pruned by the mount.
prune_stage()
{
	load gen_again "$1"
	awk -F/ '{ k = $2 + 0; if (k % 10 == 0) printf "new%097d", k
		else printf "%0100d", k }' "$work/paths" >"$work/want"
	cat "$store" >/dev/null
	t0=$(now)
	cp "$store" "$work/copy.blt"
	t_cp=$(($(now) - t0))
	rm -f "$work/copy.blt"
	mount_it "$store" noindex_cache
	run_job prune
	find_all "find after the prune"
	cat_all "cat after the prune"
	umount_it
	printf '%-11s prune: cp %s s, prune %s s (%.1fx cp), peak %d B a key, after %d; cat %s s\n' \
	    "" "$(secs "$t_cp")" "$(secs "$t_job")" \
	    "$(awk -v a="$t_job" -v b="$t_cp" 'BEGIN { print a / b }')" \
	    $((peak / total)) $((a_after / total)) "$(secs "$t_cat")"
}

# The map stage: every file of the mount through the identity plugin.
map_stage()
{
	mount_it "$store" noindex_cache
	run_job map --plugin "$plugin:plugin_identity" /
	find_all "find after the map"
	cat_all "cat after the map"
	umount_it
	printf '%-11s map: %s s, %d items/s, peak %d B a key, after %d; cat %s s\n' \
	    "" "$(secs "$t_job")" $((total * 1000000000 / t_job)) \
	    $((peak / total)) $((a_after / total)) "$(secs "$t_cat")"
}

# run_job ARGS...: bltfs ctl MNT ARGS --wait; sets t_job, and peak and
# a_after, the daemon's anonymous memory at its highest meanwhile (sampled
# every 10 ms) and after.
run_job()
{
	"$BLTFS" ctl "$MNT" "$@" --wait >"$work/job.log" 2>&1 &
	job=$!
	peak=$(anon "$pid")
	t0=$(now)
	while kill -0 "$job" 2>/dev/null; do
		a=$(anon "$pid")
		[ "$a" -le "$peak" ] || peak=$a
		sleep 0.01
	done
	t_job=$(($(now) - t0))
	wait "$job" || { cat "$work/job.log" >&2; exit 1; }
	a_after=$(anon "$pid")
}

printf '%-11s %-5s %8s %8s %9s %9s %8s %8s %7s %8s %9s\n' keys mnt dd mount \
    anon/key find/key find ls-l ls-cpu cat get
for n in $sizes; do
	store=$work/s$n.blt
	load gen "$n"
	total=$((n + 100000))
	# 1,000 random key numbers, and what cat of them must print
	awk -v n="$n" -v dirs="$ndirs" 'BEGIN { srand(7)
		for (i = 0; i < 1000; i++) {
			k = int(rand() * n); printf "d%03d/%09d\n", k % dirs, k } }' \
	    >"$work/paths"
	awk -F/ '{ printf "%0100d", $2 + 0 }' "$work/paths" >"$work/want"
	for mode in rw ro lazy cache; do
		cat "$store" >/dev/null
		t0=$(now)
		dd if="$store" of=/dev/null bs=4M 2>/dev/null
		t_dd=$(($(now) - t0))
		case $mode in
		rw) mount_it "$store" noindex_cache ;;
		ro) mount_it "$store" ro,noindex_cache ;;
		lazy) mount_it "$store" lazy,noindex_cache first ;;
		cache)
			# a mount that keeps the index (the store has not
			# changed for two seconds), then the one measured
			mount_it "$store"
			umount_it
			mount_it "$store"
			grep -q '"from": "cache"' "$MNT/.bltfs/status" ||
				{ echo "the index did not come from the cache" >&2; exit 1; }
			;;
		esac
		a_mount=$(anon "$pid")
		find_all find
		a_find=$(anon "$pid")
		t0=$(now)
		c0=$(cpu_ns "$pid")
		ls -l "$MNT/big" >/dev/null
		t_ls=$(($(now) - t0))
		c_ls=$(($(cpu_ns "$pid") - c0))
		cat_all cat
		umount_it
		t0=$(now)
		head -n 100 "$work/paths" | while read -r k; do
			"$BLT" get "$store" "$k" >/dev/null
		done
		t_get=$((($(now) - t0) / 100))
		printf '%-11s %-5s %8s %8s %4d/%-4d %9s %8s %8s %7s %8s %9s\n' \
		    "$n" "$mode" "$(secs "$t_dd")" "$(secs "$t_mount")" \
		    $((a_mount / total)) $((a_find / total)) \
		    "$((t_find / total))ns" "$(secs "$t_find")" \
		    "$(secs "$t_ls")" "$((c_ls / 1000000))ms" \
		    "$(secs "$t_cat")" "$((t_get / 1000))us"
		printf '%-11s %-5s mount %.1fx dd\n' "" "$mode" \
		    "$(awk -v a="$t_mount" -v b="$t_dd" 'BEGIN { print a / b }')"
		[ "$mode" != lazy ] ||
			printf '%-11s %-5s first cat %s s, %.2fx dd\n' "" "$mode" \
			    "$(secs "$t_first")" \
			    "$(awk -v a="$t_first" -v b="$t_dd" 'BEGIN { print a / b }')"
	done
	printf '%-11s index cache: %d bytes a key\n' "" \
	    $(($(cat "$XDG_CACHE_HOME"/bltfs/index-* | wc -c) / total))
	[ "$prune" = 0 ] || prune_stage "$n"
	[ -z "$plugin" ] || map_stage
	[ "$keep" = 1 ] || rm -f "$store"
	rm -f "$XDG_CACHE_HOME"/bltfs/index-*
done
