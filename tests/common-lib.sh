# Sourced by lib.sh and blt-lib.sh, after fail() is defined: what the
# tool's tests and the mount's tests share.
# running PID: process PID is there and has not ended (a zombie, which
# waits for init to reap it, has).
running()
{
	run_state=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -c1)
	[ -n "$run_state" ] && [ "$run_state" != Z ]
}

# gone PID...: the processes end, within a minute in all (a bound against
# hanging, not a measure); the test fails naming those still running,
# after killing them.
gone()
{
	gone_i=0
	for gone_p in "$@"; do
		while running "$gone_p" && [ $gone_i -lt 600 ]; do
			sleep 0.1
			gone_i=$((gone_i + 1))
		done
	done
	gone_left=
	for gone_p in "$@"; do
		if running "$gone_p"; then
			gone_left="$gone_left $gone_p"
			kill -KILL "$gone_p" 2>/dev/null || :
		fi
	done
	[ -z "$gone_left" ] || fail "still running:$gone_left"
}

# lines FILE N: wait until FILE has N lines (a minute at most).
lines()
{
	lines_i=0
	while [ "$(cat "$1" 2>/dev/null | wc -l)" -lt "$2" ]; do
		[ $lines_i -lt 600 ] || fail "$1 has not got $2 lines"
		sleep 0.1
		lines_i=$((lines_i + 1))
	done
}

# entries DIR N: wait until DIR holds N entries (a minute at most).
entries()
{
	entries_i=0
	while [ "$(ls "$1" | wc -l)" -lt "$2" ]; do
		[ $entries_i -lt 600 ] || fail "$1 has not got $2 entries"
		sleep 0.1
		entries_i=$((entries_i + 1))
	done
}

# vanishes PATH: PATH stops existing, within a minute (a bound against
# hanging, not a measure).  For what the daemon does at a release, which
# the kernel sends after the last close() has returned.
vanishes()
{
	vanishes_i=0
	while [ -e "$1" ]; do
		[ $vanishes_i -lt 600 ] || fail "$1 is still there"
		sleep 0.1
		vanishes_i=$((vanishes_i + 1))
	done
}

# cut_first_chain STORE: the first bucket of STORE that leads anywhere says
# its chain is empty, as a crash between two pointer writes can leave it.
cut_first_chain()
{
	python3 - "$1" <<'EOF' || fail "could not cut a chain of $1"
import sys
d = bytearray(open(sys.argv[1], "rb").read())
for i in range(int.from_bytes(d[21:25], "little")):
    at = 200 + 6 * i
    if int.from_bytes(d[at:at + 6], "little") > 1:
        d[at:at + 6] = (1).to_bytes(6, "little")
        break
else:
    sys.exit(1)
open(sys.argv[1], "wb").write(d)
EOF
}
