#!/bin/sh
# Writing through a mount beside a Python writer (issue 66), for one or
# more builds in one sitting, each run RUNS times:
#  - a stat, a cat and a listing in a directory while `echo x > DIR/new`
#    waits for the lock that the reference holds (the lock timeout, 10 s);
#  - a Python writer's open (retried every 10 ms: Debian's portalocker
#    fails at once) while cp writes a 500 MB file into the mount.
# See doc/benchmarks.md, "Writing beside a pipeline".
#
# usage: bench_held_write.sh PY DIR BLTFS...
#   PY     runs Python with the reference booklet
#   DIR    work directory (a real disk: /var/tmp); removed at the end
#   BLTFS  the daemons to compare (a build before, one after)
set -eu

[ $# -ge 3 ] || { sed -n '10,13p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
PY=$1 DIR=$2
shift 2
RUNS=${RUNS:-3}
mkdir -p "$DIR"
work=$(mktemp -d "$DIR/held.XXXXXX")
m=$work/m
mkdir "$m"
holder=
cleanup()
{
	[ -z "$holder" ] || kill "$holder" 2>/dev/null || :
	fusermount3 -u "$m" 2>/dev/null || :
	rm -rf "$work"
}
trap cleanup EXIT

ms() { echo $(($(date +%s%N) / 1000000)); }
# timed CMD...: its status and milliseconds
timed()
{
	t0=$(ms)
	if "$@" >/dev/null 2>&1; then r=0; else r=$?; fi
	echo "rc $r, $(($(ms) - t0)) ms"
}

new_store()
{
	rm -f "$work/s.blt"
	"$PY" - "$work/s.blt" <<'PY'
import booklet, sys
with booklet.open(sys.argv[1], 'n', key_serializer='str',
                  value_serializer='bytes') as db:
    for i in range(100):
        db[f'd/k{i}'] = b'1'
PY
}

# the reference holds the store for writing until $work/go is written
hold()
{
	rm -f "$work/go" "$work/held"
	mkfifo "$work/go"
	"$PY" - "$work/s.blt" "$work/go" "$work/held" <<'PY' &
import booklet, sys
db = booklet.open(sys.argv[1], 'w')
open(sys.argv[3], 'w').close()
open(sys.argv[2]).read()
db.close()
PY
	holder=$!
	while [ ! -e "$work/held" ]; do sleep 0.05; done
}

let_go()
{
	echo >"$work/go"
	wait "$holder"
	holder=
}

held_dir()
{
	new_store
	"$1" "$work/s.blt" "$m"
	hold
	sh -c "echo x >'$m/d/new'" 2>/dev/null &
	w=$!
	sleep 1 # the write is waiting by now (a bench: a sleep is the load)
	echo "  stat d/k5 while the write waits: $(timed stat "$m/d/k5")"
	echo "  cat d/k7: $(timed cat "$m/d/k7")"
	echo "  ls d: $(timed ls "$m/d")"
	wait "$w" || echo "  the write failed, as it must past the timeout"
	let_go
	fusermount3 -u "$m"
}

big=$work/big500
head -c 500M /dev/urandom >"$big"
cp_open()
{
	new_store
	"$1" "$work/s.blt" "$m"
	cp "$big" "$m/big" &
	c=$!
	while [ "$(stat -c %s "$m/big" 2>/dev/null || echo 0)" -lt 50000000 ]
	do
		sleep 0.01
	done
	"$PY" - "$work/s.blt" <<'PY'
import booklet, time, sys
t = time.monotonic()
tries = 0
while True:
    try:
        db = booklet.open(sys.argv[1], 'w')
        break
    except Exception:
        tries += 1
        time.sleep(0.01)
print('  Python open while cp writes: %.0f ms (%d tries)'
      % ((time.monotonic() - t) * 1000, tries))
db['p'] = b'2'
db.close()
PY
	wait "$c"
	cmp -s "$m/big" "$big" || echo "  the copy is not whole"
	fusermount3 -u "$m"
}

for run in $(seq "$RUNS"); do
	for b in "$@"; do
		echo "$b, run $run:"
		held_dir "$b"
		cp_open "$b"
	done
done
