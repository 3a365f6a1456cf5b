#!/bin/sh
# bltfs against the native file system (tmpfs) and squashfuse on the same
# data, in one run; prints a table of times and ratios and checks the
# targets of issue 4.  See doc/benchmarks.md, section Filesystem.
#
# usage: bench_fs.sh BENCH_FSGEN BLTFS [options]
#   -r N          repetitions; the best time of each is kept (3)
#   -d DIR        work directory, on tmpfs for a fair comparison
#                 (default: a new one in /dev/shm); removed at the end
#   --seed S      seed of the generated data (1)
#   --dirs N      directories of 1,000 small files (100)
#   --big N       files of 1 MiB (1000)
#   --keys N      keys of the big store, for mount time and find (1000000;
#                 0 skips it)
#   --only LIST   workloads to run, comma-separated: mount, first, warm,
#                 cp, keys (all)
#   -o OPTS       more bltfs options (-o OPTS), e.g. -o max_idle_threads=4
#   -s            run bltfs single-threaded (bltfs -s)
#   --keep        keep the work directory
#
# Each repetition runs every workload on tmpfs, squashfuse, bltfs and
# bltfs -o ro (on a copy of the store: a read-write mount holds its lock
# alone), one after the other, before the next workload starts, so that a
# busy moment of the machine hits them all.  "first" workloads start from a fresh
# mount with the kernel's caches dropped (echo 3 > drop_caches, as root);
# the tmpfs tree, the squashfs image and the store themselves stay in
# memory, being on tmpfs, so "first" means the mount's own caches are
# cold.  "second" is the run right after such a first one.  "warm"
# workloads run after the same command ran twice: bltfs has the kernel
# keep a directory's listing from its second opening on, so the second
# run pays for filling that cache and later ones are served from it.
set -eu

usage()
{
	sed -n '5,19p' "$0" | sed 's/^# \{0,1\}//' >&2
	exit 2
}

[ $# -ge 2 ] || usage
GEN=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
BLTFS=$(cd "$(dirname "$2")" && pwd)/$(basename "$2")
shift 2
reps=3
work=
seed=1
dirs=100
big=1000
keys=1000000
only=mount,first,warm,cp,keys
keep=0
bopts=
while [ $# -gt 0 ]; do
	case $1 in
	-r) reps=$2; shift ;;
	-d) work=$2; shift ;;
	--seed) seed=$2; shift ;;
	--dirs) dirs=$2; shift ;;
	--big) big=$2; shift ;;
	--keys) keys=$2; shift ;;
	--only) only=$2; shift ;;
	--keep) keep=1 ;;
	-o) bopts="$bopts -o $2"; shift ;;
	-s) bopts="$bopts -s" ;;
	*) usage ;;
	esac
	shift
done

# --- what is needed ---------------------------------------------------------
missing=
for tool in fusermount3 find xargs tar grep; do
	command -v $tool >/dev/null || missing="$missing $tool"
done
SQFUSE=
if command -v squashfuse_ll >/dev/null; then
	SQFUSE=squashfuse_ll # the low-level build: the faster of the two
elif command -v squashfuse >/dev/null; then
	SQFUSE=squashfuse
fi
if [ -z "$SQFUSE" ] || ! command -v mksquashfs >/dev/null; then
	echo "bench-fs: squashfuse or mksquashfs missing: its column stays" \
	    "empty (apt-get install squashfuse squashfs-tools)" >&2
	SQFUSE=
fi
# make bench goes on with the other benchmarks when this one cannot run
if [ -n "$missing" ]; then
	echo "bench-fs: skipped, missing:$missing" >&2
	exit 0
fi
[ -c /dev/fuse ] || { echo "bench-fs: skipped, no /dev/fuse" >&2; exit 0; }
if [ ! -x "$GEN" ] || [ ! -x "$BLTFS" ]; then
	echo "bench-fs: not built: $GEN $BLTFS" >&2
	exit 2
fi
if [ "$(id -u)" = 0 ]; then
	dropping=1
else
	dropping=0
	echo "bench-fs: not root: caches are not dropped before first reads" >&2
fi
has() { case ",$only," in *",$1,"*) return 0 ;; esac; return 1; }

# --- work directory and cleanup ----------------------------------------------
if [ -z "$work" ]; then
	work=$(mktemp -d /dev/shm/bench-fs.XXXXXX)
else
	mkdir -p "$work"
	work=$(cd "$work" && pwd -P)
fi
res=$work/results
: >"$res"
bpid=
rpid=

cleanup()
{
	status=$?
	set +e
	for m in "$work"/m-*; do
		[ -d "$m" ] || continue
		grep -qF " $m fuse" /proc/self/mounts &&
			{ fusermount3 -u "$m" || fusermount3 -uz "$m"; }
	done
	[ -z "$bpid" ] || wait "$bpid"
	[ -z "$rpid" ] || wait "$rpid"
	if [ "$keep" = 0 ]; then
		rm -rf "$work"
	else
		echo "kept $work"
	fi
	exit $status
}
trap cleanup EXIT
trap 'exit 1' HUP INT TERM

# --- timing --------------------------------------------------------------------
now() { date +%s%N; }

# record WORKLOAD FS NANOSECONDS: keep the best time.
record()
{
	awk -F'\t' -v OFS='\t' -v w="$1" -v f="$2" -v t="$3" '
	    $1 == w && $2 == f { if (t + 0 < $3 + 0) $3 = t; found = 1 }
	    { print }
	    END { if (!found) print w, f, t }' "$res" >"$res.new"
	mv "$res.new" "$res"
}

# run WORKLOAD FS DIR COMMAND: time COMMAND (sh -c) in DIR.
run()
{
	w=$1 f=$2 d=$3
	shift 3
	t0=$(now)
	(cd "$d" && sh -c "$1") >"$work/out.$f" 2>&1 ||
		{ echo "$w on $f failed:" >&2; cat "$work/out.$f" >&2; exit 1; }
	t1=$(now)
	record "$w" "$f" $((t1 - t0))
}

drop()
{
	[ "$dropping" = 0 ] || { sync; echo 3 >/proc/sys/vm/drop_caches; }
}

# --- mounts ----------------------------------------------------------------------
# bltfs runs in the foreground so that unmounting can wait for it to close
# the store; it says when it is ready on a fifo (-o ready_fd).
blt_mount() # STORE MNT PIDVAR [OPTIONS]: sets mount_ns and PIDVAR
{
	mkdir -p "$2"
	rm -f "$work/ready"
	mkfifo "$work/ready"
	t0=$(now)
	# shellcheck disable=SC2086
	"$BLTFS" "$1" "$2" -f -o ready_fd=3 $bopts ${4:+-o "$4"} \
	    3>"$work/ready" 2>>"$work/bltfs.log" &
	eval "$3=\$!"
	r=$(head -c 1 "$work/ready")
	t1=$(now)
	[ "$r" = 1 ] || { cat "$work/bltfs.log" >&2; exit 1; }
	mount_ns=$((t1 - t0))
}

blt_umount() # MNT PIDVAR: sets umount_ns
{
	t0=$(now)
	fusermount3 -u "$1"
	eval "wait \"\$$2\"" || { cat "$work/bltfs.log" >&2; exit 1; }
	t1=$(now)
	eval "$2="
	umount_ns=$((t1 - t0))
}

sq_mount() # IMAGE MNT: sets mount_ns
{
	mkdir -p "$2"
	t0=$(now)
	$SQFUSE "$1" "$2"
	t1=$(now)
	mount_ns=$((t1 - t0))
}

sq_umount() { fusermount3 -u "$1"; }

T=$work/tree
SQ=$work/m-sq
BL=$work/m-blt
RO=$work/m-ro
fss="tmpfs"
[ -z "$SQFUSE" ] || fss="$fss squashfuse"
fss="$fss bltfs bltfs-ro"

root_of()
{
	case $1 in
	tmpfs) echo "$T" ;;
	squashfuse) echo "$SQ" ;;
	bltfs) echo "$BL" ;;
	bltfs-ro) echo "$RO" ;;
	esac
}

# remount FS: a fresh mount of FS with the kernel's caches dropped.
remount()
{
	case $1 in
	tmpfs) drop ;;
	squashfuse) sq_umount "$SQ"; drop; sq_mount "$work/tree.sqfs" "$SQ" ;;
	bltfs) blt_umount "$BL" bpid; drop; blt_mount "$work/tree.blt" "$BL" bpid ;;
	bltfs-ro)
		blt_umount "$RO" rpid; drop
		blt_mount "$work/tree-ro.blt" "$RO" rpid ro ;;
	esac
}

# --- the data --------------------------------------------------------------------
echo "bench-fs: $(uname -srm), $(nproc) CPUs, work directory $work" \
    "($(stat -f -c %T "$work"))"
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg); bltfs options:${bopts:- none}"
gen_args="--seed $seed --dirs $dirs --big $big"
mkdir -p "$T"
t0=$(now)
# shellcheck disable=SC2086 # the options are words
"$GEN" tree "$T" $gen_args
t1=$(now)
# shellcheck disable=SC2086
"$GEN" store "$work/tree.blt" $gen_args
t2=$(now)
echo "data: $((dirs * 1000)) small files in $dirs directories, $big of" \
    "1 MiB, seed $seed: tree $(((t1 - t0) / 1000000)) ms," \
    "store $(((t2 - t1) / 1000000)) ms ($(du -m "$work/tree.blt" | cut -f1) MiB)"
if [ -n "$SQFUSE" ]; then
	# uncompressed: the fastest squashfs to read
	t0=$(now)
	mksquashfs "$T" "$work/tree.sqfs" -noappend -no-progress -quiet \
	    -noI -noId -noD -noF -noX -no-xattrs >/dev/null
	t1=$(now)
	echo "squashfs image: $(((t1 - t0) / 1000000)) ms," \
	    "$(du -m "$work/tree.sqfs" | cut -f1) MiB ($SQFUSE)"
	sq_mount "$work/tree.sqfs" "$SQ"
fi
cp "$work/tree.blt" "$work/tree-ro.blt"
blt_mount "$work/tree.blt" "$BL" bpid
blt_mount "$work/tree-ro.blt" "$RO" rpid ro
d0=small/d00
ncheck=$(find "$T" | wc -l)
for f in $fss; do
	n=$(find "$(root_of $f)" | wc -l)
	[ "$n" = "$ncheck" ] || { echo "$f lists $n paths, not $ncheck" >&2; exit 1; }
done

# --- workloads -------------------------------------------------------------------
# The commands, by workload name; each runs in the root of a mount.
cmd_of()
{
	case $1 in
	find*) echo 'find . | wc -l' ;;
	"ls -l"*) echo "ls -l $d0 >/dev/null" ;;
	ls*) echo "ls $d0 >/dev/null" ;;
	"cat all"*) echo 'find . -type f -print0 | xargs -0 cat >/dev/null' ;;
	"cat 1 MiB"*) echo 'cat big/* >/dev/null' ;;
	grep*) echo 'grep -r xyzzy . | wc -l' ;; # not -q, not >/dev/null
	tar*) echo 'tar cf - . | cat >/dev/null' ;; # tar skips /dev/null
	esac
}
first="find (first);find (second);ls (first);ls -l (first);cat all (first)"
first="$first;cat 1 MiB (first)"
warm="find;ls;ls -l;cat all;grep -r;tar c;cat 1 MiB"

rep=1
while [ $rep -le "$reps" ]; do
	echo "repetition $rep of $reps, load $(cut -d' ' -f1 /proc/loadavg)"
	if has mount; then
		for f in $fss; do
			case $f in
			squashfuse)
				sq_umount "$SQ"; drop
				sq_mount "$work/tree.sqfs" "$SQ"
				record "mount" $f $mount_ns ;;
			bltfs | bltfs-ro)
				remount $f
				record "mount" $f $mount_ns ;;
			esac
		done
	fi
	if has first; then
		IFS=';'
		for w in $first; do
			unset IFS
			for f in $fss; do
				remount $f
				c=$(cmd_of "$w")
				case $w in
				*"(second)")
					(cd "$(root_of $f)" && sh -c "$c") \
					    >/dev/null 2>&1 ;;
				esac
				run "$w" $f "$(root_of $f)" "$c"
			done
			IFS=';'
		done
		unset IFS
	fi
	if has warm; then
		IFS=';'
		for w in $warm; do
			unset IFS
			for f in $fss; do
				c=$(cmd_of "$w")
				# twice to warm up, then timed
				for k in 1 2; do
					(cd "$(root_of $f)" && sh -c "$c") \
					    >/dev/null 2>&1
				done
				run "$w" $f "$(root_of $f)" "$c"
			done
			IFS=';'
		done
		unset IFS
	fi
	if has cp; then
		# into an empty tmpfs directory, and into a mount of a new store
		rm -rf "$work/cp-tmpfs"
		mkdir "$work/cp-tmpfs"
		run "cp -r" tmpfs "$work" "cp -r '$T/.' '$work/cp-tmpfs/'"
		rm -rf "$work/cp-tmpfs"
		blt_umount "$BL" bpid
		rm -f "$work/cp.blt"
		blt_mount "$work/cp.blt" "$BL" bpid
		run "cp -r" bltfs "$work" "cp -r '$T/.' '$BL/'"
		blt_umount "$BL" bpid
		record "unmount after cp" bltfs $umount_ns
		blt_mount "$work/tree.blt" "$BL" bpid
	fi
	rep=$((rep + 1))
done

# The copies must be right (checked once, outside the timing).
if has cp; then
	blt_umount "$BL" bpid
	blt_mount "$work/cp.blt" "$BL" bpid
	diff -r "$T" "$BL" >/dev/null || { echo "cp -r: the copy differs" >&2; exit 1; }
	blt_umount "$BL" bpid
	rm -f "$work/cp.blt"
	blt_mount "$work/tree.blt" "$BL" bpid
fi

# --- the store of many keys ----------------------------------------------------
if has keys && [ "$keys" -gt 0 ]; then
	blt_umount "$BL" bpid
	t0=$(now)
	"$GEN" keys "$work/keys.blt" -n "$keys" --seed "$seed"
	t1=$(now)
	echo "store of $keys keys: $(((t1 - t0) / 1000000)) ms," \
	    "$(du -m "$work/keys.blt" | cut -f1) MiB"
	rep=1
	while [ $rep -le "$reps" ]; do
		drop
		blt_mount "$work/keys.blt" "$BL" bpid
		record "keys: mount" bltfs $mount_ns
		run "keys: find (first)" bltfs "$BL" 'find . | wc -l'
		run "keys: find (second)" bltfs "$BL" 'find . | wc -l'
		run "keys: find" bltfs "$BL" 'find . | wc -l'
		blt_umount "$BL" bpid
		record "keys: unmount" bltfs $umount_ns
		rep=$((rep + 1))
	done
	n=$(cat "$work/out.bltfs")
	[ "$n" = $((keys + keys / 1000 + 1)) ] ||
		echo "keys: find listed $n paths" >&2
	rm -f "$work/keys.blt"
	blt_mount "$work/tree.blt" "$BL" bpid
fi
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"

# --- the table -------------------------------------------------------------------
echo
awk -F'\t' '
function val(w, f) { return (w SUBSEP f) in t ? t[w, f] : "" }
function fmt(ns) { return ns == "" ? "-" : sprintf("%.3f", ns / 1e9) }
function ratio(a, b) { return a == "" || b == "" ? "-" : sprintf("%.2fx", a / b) }
{
	w = $1
	t[w, $2] = $3
	if (!(w in seen)) { seen[w] = 1; order[n++] = w }
}
END {
	print "| workload (seconds, best of runs) | tmpfs | squashfuse | bltfs | bltfs/tmpfs | bltfs/squashfuse | bltfs -o ro | ro/tmpfs | ro/squashfuse |"
	print "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
	for (i = 0; i < n; i++) {
		w = order[i]
		a = val(w, "tmpfs"); b = val(w, "squashfuse"); c = val(w, "bltfs")
		r = val(w, "bltfs-ro")
		print "| " w " | " fmt(a) " | " fmt(b) " | " fmt(c) " | " \
		    ratio(c, a) " | " ratio(c, b) " | " fmt(r) " | " \
		    ratio(r, a) " | " ratio(r, b) " |"
	}
	print ""
	print "Targets (bltfs, then bltfs -o ro):"
	split("bltfs;bltfs-ro", mnt, ";")
	for (k = 1; k <= 2; k++) {
		m = mnt[k]
		# warm reads within 1.3x tmpfs
		ok = 1; s = ""; any = 0
		split("find;ls;ls -l;cat all;grep -r;tar c;cat 1 MiB", wr, ";")
		for (i in wr) if ((wr[i], "tmpfs") in t && (wr[i], m) in t) {
			any = 1
			r = t[wr[i], m] / t[wr[i], "tmpfs"]
			if (r > 1.3) { ok = 0; s = s " " wr[i] sprintf(" %.2fx;", r) }
		}
		if (any)
			print "  " m ": warm reads within 1.3x tmpfs: " (ok ? "met" : "MISSED:" s)
		ok = 1; s = ""; any = 0
		for (i = 0; i < n; i++) {
			w = order[i]
			if (!((w, "squashfuse") in t) || !((w, m) in t) || w ~ /^mount/)
				continue
			any = 1
			if (t[w, m] >= t[w, "squashfuse"]) {
				ok = 0
				s = s " " w sprintf(" %.2fx;", t[w, m] / t[w, "squashfuse"])
			}
		}
		if (any)
			print "  " m ": faster than squashfuse on every read workload: " (ok ? "met" : "MISSED:" s)
		split("ls -l (first):ls (first);ls -l:ls", lp, ";")
		for (i in lp) {
			split(lp[i], p, ":")
			if ((p[1], m) in t && (p[2], m) in t) {
				r = t[p[1], m] / t[p[2], m]
				s = ""
				if ((p[1], "tmpfs") in t && (p[2], "tmpfs") in t)
					s = sprintf("; tmpfs itself: %.2fx", t[p[1], "tmpfs"] / t[p[2], "tmpfs"])
				print "  " m ": " p[1] " within 1.5x " p[2] ": " (r <= 1.5 ? "met" : "MISSED") sprintf(" (%.2fx%s)", r, s)
			}
		}
	}
	if (("keys: mount", "bltfs") in t) {
		m = t["keys: mount", "bltfs"] / 1e9
		print "  many-key store mounted in under 1 s: " (m < 1 ? "met" : "MISSED") sprintf(" (%.3f s)", m)
		m = t["keys: find (first)", "bltfs"] / 1e9
		print "  many-key store walked by find in about 1 s (<= 1.2 s): " (m <= 1.2 ? "met" : "MISSED") sprintf(" (%.3f s first, %.3f s second, %.3f s warm)", m, t["keys: find (second)", "bltfs"] / 1e9, t["keys: find", "bltfs"] / 1e9)
	}
	if (("cp -r", "bltfs") in t) {
		r = t["cp -r", "bltfs"] / t["cp -r", "tmpfs"]
		print "  cp -r at least half the speed of tmpfs: " (r <= 2 ? "met" : "MISSED") sprintf(" (%.2fx the time)", r)
	}
}' "$res"
