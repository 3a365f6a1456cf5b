#!/bin/sh
# bench_map.sh: blt map against xargs -P, and a trivial plugin's rate.
#
#   bench_map.sh BLT PLUGIN_SO [-n ITEMS] [-p PLUGIN_ITEMS] [-j WORKERS]
#                [-c COMMAND] [-r REPS] [-d DIR]
#
# 1. --exec: ITEMS small values (default 10000), once as files and once
#    in a store, both in DIR (default /dev/shm, a tmpfs).  xargs -P WORKERS
#    runs "sh -c 'COMMAND < FILE > OUT/FILE'" per file; blt map runs
#    COMMAND per value with WORKERS workers.  The two alternate REPS times
#    (default 2) and the best time of each is kept.  Target: blt map's
#    throughput at least 0.9x that of xargs.  -n 0 skips this part.
# 2. --plugin: PLUGIN_ITEMS values (default 1000000) mapped in place by
#    PLUGIN_SO:plugin_identity with 2 workers, pinned to 2 CPUs when the
#    machine has more.  Target: at least 1,000,000 items/s.
# 3. --worker (issue 32): WORKER_ITEMS values of about 200 bytes (default
#    100000; -w 0 skips this part), 2 workers, identity and a small
#    transform (upper case): the Python worker (src/map/bltfs_worker.py),
#    the C example worker (-W, default doc/examples/map_worker next to
#    BLT's build), --exec (on the first EXEC_ITEMS values, -x, default
#    5000: it is slow), the reference Python booklet's own map() with 2
#    processes on the same store (../shared/reference), and the C and
#    Python workers over ssh to 127.0.0.1.  The ssh is a private sshd the
#    bench starts on a free port (tests/sshd-lib.sh), or -S SSH, an ssh
#    command that logs in to 127.0.0.1 without a prompt.  The private sshd
#    runs each ssh map three times: with the login as it is; "lean", where
#    the command's shell does not read ~/.bashrc (which Debian's bash reads
#    for every command run through sshd, and which may cost more than the
#    map); and "lean-mux", lean through one ssh connection opened before
#    the map (ControlMaster, doc/map.md), as for a second map.  Prints
#    items/s, each one's ratio to the Python worker's, and each ssh run's
#    ratio to the same worker here, once the workers had started (from
#    blt map's start_seconds, the first worker's hello) and over the whole
#    map, with the most the whole map could reach with a free transport:
#    the local time over itself plus the login.  Targets: the C worker
#    >= 200,000 items/s; over ssh, at least half the rate here once
#    started (a login is a fixed cost, longer here than a whole local map
#    of 100,000 items, so the whole map's ratio measures the login).
# See doc/benchmarks.md, section Map.
set -eu

[ $# -ge 2 ] || {
	echo "usage: $0 BLT PLUGIN_SO [-n N] [-p N] [-j N] [-c CMD] [-r N] [-d DIR]" \
	    "[-w N] [-x N] [-W MAP_WORKER] [-S SSH]" >&2
	exit 2
}
blt=$1
plugin=$2
shift 2
case $blt in /*) ;; *) blt=$PWD/$blt ;; esac
case $plugin in /*) ;; *) plugin=$PWD/$plugin ;; esac
n=10000 np=1000000 reps=2 cmd='tr a-z A-Z' nw=100000 nx=5000
src=$(cd "$(dirname "$0")/.." && pwd)
cw=$(dirname "$blt")/../../doc/examples/map_worker
sshc=
jobs=$(nproc)
dir=/dev/shm
[ -d "$dir" ] && [ -w "$dir" ] || dir=${TMPDIR:-/tmp}
while getopts n:p:j:c:r:d:w:x:W:S: opt; do
	case $opt in
	S) sshc=$OPTARG ;;
	w) nw=$OPTARG ;;
	x) nx=$OPTARG ;;
	W) cw=$OPTARG ;;
	n) n=$OPTARG ;;
	p) np=$OPTARG ;;
	j) jobs=$OPTARG ;;
	c) cmd=$OPTARG ;;
	r) reps=$OPTARG ;;
	d) dir=$OPTARG ;;
	*) exit 2 ;;
	esac
done

work=$(mktemp -d "$dir/bench-map.XXXXXX")
. "$src/tests/sshd-lib.sh"
mux=
trap '[ -z "$mux" ] || $mux -O exit 127.0.0.1 2>/dev/null || :
sshd_stop; rm -rf "$work"' EXIT
# dash skips the EXIT trap when a signal kills it: exit on signals instead
trap 'exit 1' HUP INT TERM

now() { date +%s.%N; }
# elapsed START: seconds since START
elapsed() { echo "$(now) $1" | awk '{ printf "%.3f", $1 - $2 }'; }
# field NAME: a number from blt map's JSON report on stdin
field() { sed -n "s/.*\"$1\": \\([0-9.]*\\).*/\\1/p"; }

echo "bench_map: $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) CPUs:" \
    "$(sed -n 's/^model name[^:]*: //p' /proc/cpuinfo | head -1)"
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
df -T "$work" | tail -1 | awk '{ print "directory: " $7 " (" $2 ")" }'

# --- 1. --exec against xargs -P (-n 0 skips it) ----------------------------
[ "$n" -gt 0 ] && {
mkdir "$work/files" "$work/out"
awk -v n="$n" -v d="$work/files" -v j="$work/items.jsonl" 'BEGIN {
	for (i = 0; i < n; i++) {
		v = sprintf("value number %d of the map benchmark, in lower case", i)
		f = d "/v" i
		print v > f
		close(f)
		printf "{\"key\": \"v%d\", \"value\": \"%s\\n\"}\n", i, v > j
	}
}'
"$blt" load -c "$work/exec.blt" "$work/items.jsonl"

best_x= best_m=
r=0
while [ "$r" -lt "$reps" ]; do
	r=$((r + 1))
	t0=$(now)
	(cd "$work/files" && ls | xargs -P "$jobs" -n 1 \
	    sh -c "$cmd"' < "$1" > ../out/"$1"' sh)
	tx=$(elapsed "$t0")
	# Each rep maps the values the previous one wrote: same sizes.
	t0=$(now)
	"$blt" map "$work/exec.blt" --exec "$cmd" --workers "$jobs" \
	    > "$work/exec.json"
	tm=$(elapsed "$t0")
	echo "  rep $r: xargs -P $jobs ${tx}s, blt map --workers $jobs ${tm}s"
	best_x=$(echo "$tx ${best_x:-$tx}" | awk '{ print ($1 < $2) ? $1 : $2 }')
	best_m=$(echo "$tm ${best_m:-$tm}" | awk '{ print ($1 < $2) ? $1 : $2 }')
done
# The results must agree.
"$blt" get "$work/exec.blt" v7 > "$work/v7.map"
cmp -s "$work/v7.map" "$work/out/v7" || {
	echo "bench_map: blt map and xargs disagree on v7" >&2
	exit 1
}
echo "--exec '$cmd', $n values, $jobs workers (best of $reps):"
echo "$n $best_x $best_m" | awk '{
	printf "  xargs -P:  %8.3f s  %8.0f items/s\n", $2, $1 / $2
	printf "  blt map:   %8.3f s  %8.0f items/s\n", $3, $1 / $3
	printf "  ratio blt map / xargs: %.2fx (target >= 0.90): %s\n", \
	    $2 / $3, ($2 / $3 >= 0.9) ? "ok" : "MISSED"
}'
}

# --- 2. --plugin, trivial function, 2 workers on 2 CPUs -------------------
awk -v n="$np" 'BEGIN {
	for (i = 0; i < n; i++)
		printf "{\"key\": \"key%08d\", \"value\": \"value %d of the map benchmark\"}\n", i, i
}' > "$work/plugin.jsonl"
"$blt" load -c "$work/plugin.blt" "$work/plugin.jsonl"
rm -f "$work/plugin.jsonl"
pin=
[ "$(nproc)" -gt 2 ] && command -v taskset > /dev/null && pin="taskset -c 0,1"
$pin "$blt" map "$work/plugin.blt" --plugin "$plugin:plugin_identity" \
    --workers 2 > "$work/plugin.json"
secs=$(field seconds < "$work/plugin.json")
done_=$(field processed < "$work/plugin.json")
echo "--plugin plugin_identity, $np values, 2 workers${pin:+ ($pin)}:"
echo "$done_ $secs" | awk '{
	printf "  %d items in %.3f s: %.0f items/s (target >= 1000000): %s\n", \
	    $1, $2, $1 / $2, ($1 / $2 >= 1000000) ? "ok" : "MISSED"
}'

# --- 3. --worker: Python, C, --exec, the reference's map(), over ssh -------
[ "$nw" -gt 0 ] || exit 0
refpy=$src/../shared/reference/bin/booklet-python
wpy=/usr/bin/python3
[ -x "$wpy" ] || wpy=python3
awk -v n="$nw" -v x="$nx" -v j="$work/w.jsonl" -v e="$work/x.jsonl" 'BEGIN {
	pad = sprintf("%0180d", 0)
	for (i = 0; i < n; i++) {
		line = sprintf("{\"key\": \"key%08d\", \"value\": \"value %08d %s\"}", i, i, pad)
		print line > j
		if (i < x)
			print line > e
	}
}'
cat > "$work/id.py" <<EOF
import sys
sys.dont_write_bytecode = True
sys.path.insert(0, "$src/src/map")
from bltfs_worker import serve
up = len(sys.argv) > 1
serve((lambda k, v: v.upper()) if up else (lambda k, v: v), raw=True)
EOF
cat > "$work/ref.py" <<'EOF'
import sys, time, booklet

def ident(k, v):
    return k, v

def upper(k, v):
    return k, v.upper()

if __name__ == "__main__":
    f = upper if sys.argv[2] == "upper" else ident
    t0 = time.monotonic()
    n = 0
    with booklet.open(sys.argv[1], "w") as db:
        for k, v in db.map(f, n_workers=2):
            db[k] = v
            n += 1
    print("%d %.3f" % (n, time.monotonic() - t0))
EOF
# ssh: -S, or a private sshd; lean: the same without the user's ~/.bashrc
lean=
if [ -z "$sshc" ]; then
	mkdir "$work/sshd"
	if sshd_start "$work/sshd" 2>"$work/sshd.err"; then
		sshc=$SSH lean="$SSH -o SetEnv=SHLVL=1"
		# the connection to share, opened once, as a user would
		cm="-o ControlPath=$work/sshd/cm"
		$lean $cm -o ControlMaster=yes -N -f 127.0.0.1 </dev/null &&
			mux="$lean $cm -o ControlMaster=no"
	else
		echo "  (no private sshd here: $(tail -1 "$work/sshd.err"))"
	fi
fi
ssh_ok=
if [ -n "$sshc" ] && $sshc 127.0.0.1 true 2>/dev/null </dev/null; then
	ssh_ok=1
	# session TAG SSH: the best of 3 `SSH 127.0.0.1 true`
	session()
	{
		b=
		for i in 1 2 3; do
			t0=$(now)
			$2 127.0.0.1 true </dev/null
			t=$(elapsed "$t0")
			b=$(echo "$t ${b:-$t}" | awk '{ print ($1 < $2) ? $1 : $2 }')
		done
		echo "  ssh session start ($1): $b s"
	}
	session "login as it is" "$sshc"
	[ -z "$lean" ] || session "lean, no ~/.bashrc" "$lean"
	[ -z "$mux" ] || session "lean, through an open connection" "$mux"
fi
echo "--worker, $nw values of ~200 bytes, 2 workers (--exec: $nx values):"
: > "$work/rates"
# run NAME ITEMS_FILE ARGS...: a fresh store, one blt map, its rate
run()
{
	name=$1 items=$2
	shift 2
	rm -f "$work/w.blt"
	"$blt" load -c "$work/w.blt" "$items"
	"$blt" map "$work/w.blt" --workers 2 "$@" > "$work/w.json" || {
		echo "  $name: failed: $(cat "$work/w.json")"
		return 0
	}
	echo "$name $(field processed < "$work/w.json") $(field seconds < "$work/w.json")" \
	    "$(field start_seconds < "$work/w.json")" >> "$work/rates"
}
for t in identity upper; do
	a=; [ $t = upper ] && a=1
	ci=-i; [ $t = upper ] && ci=
	run "python-$t" "$work/w.jsonl" --worker "$wpy $work/id.py $a"
	run "c-$t" "$work/w.jsonl" --worker "$cw $ci"
	if [ $t = upper ]; then xc='tr a-z A-Z'; else xc=cat; fi
	run "exec-$t" "$work/x.jsonl" --exec "$xc"
	if [ -x "$refpy" ]; then
		rm -f "$work/w.blt"
		"$blt" load -c "$work/w.blt" "$work/w.jsonl"
		r=$("$refpy" "$work/ref.py" "$work/w.blt" $t 2>&1) &&
			echo "reference-map-$t $r" >> "$work/rates" ||
			echo "  reference-map-$t: failed: $r"
	fi
	if [ -n "$ssh_ok" ]; then
		run "c-ssh-$t" "$work/w.jsonl" --worker "$cw $ci" \
		    --launcher "$sshc 127.0.0.1"
		run "python-ssh-$t" "$work/w.jsonl" --worker "$wpy $work/id.py $a" \
		    --launcher "$sshc 127.0.0.1"
	fi
	if [ -n "$ssh_ok" ] && [ -n "$lean" ]; then
		run "c-ssh-lean-$t" "$work/w.jsonl" --worker "$cw $ci" \
		    --launcher "$lean 127.0.0.1"
		run "python-ssh-lean-$t" "$work/w.jsonl" \
		    --worker "$wpy $work/id.py $a" --launcher "$lean 127.0.0.1"
	fi
	if [ -n "$ssh_ok" ] && [ -n "$mux" ]; then
		run "c-ssh-lean-mux-$t" "$work/w.jsonl" --worker "$cw $ci" \
		    --launcher "$mux 127.0.0.1"
		run "python-ssh-lean-mux-$t" "$work/w.jsonl" \
		    --worker "$wpy $work/id.py $a" --launcher "$mux 127.0.0.1"
	fi
done
[ -n "$ssh_ok" ] || echo "  (no ssh to 127.0.0.1 without a prompt here: no ssh runs)"
awk '{ rate[$1] = $2 / ($3 > 0 ? $3 : 0.001); n[$1] = $2; s[$1] = $3; order[++k] = $1
	start[$1] = $4
	# the rate once the first worker said hello (start_seconds)
	if ($4 != "") run[$1] = $2 / ($3 - $4 > 0 ? $3 - $4 : 0.001) }
END {
	for (i = 1; i <= k; i++) {
		name = order[i]
		base = name ~ /upper/ ? "python-upper" : "python-identity"
		printf "  %-30s %8d items %8.3f s %10.0f items/s", name, n[name], s[name], rate[name]
		if (base in rate)
			printf "  %6.2fx python", rate[name] / rate[base]
		printf "\n"
		# an ssh run against the same worker here: the target is on the
		# rate once started; the whole map adds the login, which no
		# transport can win back on a map shorter than a login
		here = name
		sub(/-ssh(-lean)?(-mux)?/, "", here)
		if (here == name || !(here in rate) || !(name in run))
			continue
		printf "  %30s once started %.2fx here (target >= 0.5): %s;", "", \
		    run[name] / run[here], (run[name] / run[here] >= 0.5) ? "ok" : "MISSED"
		printf " whole map %.2fx (start %.3f s, at most %.2fx)\n", \
		    rate[name] / rate[here], start[name], s[here] / (s[here] + start[name])
	}
	if ("c-identity" in rate)
		printf "  C worker identity: %.0f items/s (target >= 200000): %s\n", \
		    rate["c-identity"], (rate["c-identity"] >= 200000) ? "ok" : "MISSED"
}' "$work/rates"
