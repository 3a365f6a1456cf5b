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

# poll WHY CMD...: run CMD every 0.1 s until it succeeds, for a minute at
# most (a bound against hanging, not a measure); then fail with WHY.
poll()
{
	poll_why=$1
	shift
	poll_i=0
	until "$@"; do
		[ $poll_i -lt 600 ] || fail "$poll_why"
		sleep 0.1
		poll_i=$((poll_i + 1))
	done
}

has_lines() { [ "$(cat "$1" 2>/dev/null | wc -l)" -ge "$2" ]; }
has_entries() { [ "$(ls "$1" | wc -l)" -ge "$2" ]; }
absent() { [ ! -e "$1" ]; }
empty_file() { [ -f "$1" ] && [ ! -s "$1" ]; }

# lines FILE N: wait until FILE has N lines.
lines() { poll "$1 has not got $2 lines" has_lines "$1" "$2"; }

# entries DIR N: wait until DIR holds N entries.
entries() { poll "$1 has not got $2 entries" has_entries "$1" "$2"; }

# vanishes PATH: wait until PATH stops existing.  For what the daemon does
# at a release, which the kernel sends after the last close() has returned.
vanishes() { poll "$1 is still there" absent "$1"; }

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

# need_reference: PY, the program that runs Python with the reference
# booklet importable (configure: --with-reference, ../shared/reference,
# or `import booklet` in PYTHON), or the test is skipped, saying so in
# words .ci/run counts.
need_reference()
{
	PY=${REFERENCE_PY:-}
	if [ -z "$PY" ]; then
		echo "skipped: needs the reference Python booklet, which" \
		    "configure did not find (pip install booklet==0.12.9" \
		    "orjson zstandard msgpack numpy, or ./configure" \
		    "--with-reference=DIR)" >&2
		exit 77
	fi
	if [ -n "${REFERENCE_PATH:-}" ]; then
		PYTHONPATH=$REFERENCE_PATH${PYTHONPATH:+:$PYTHONPATH}
		export PYTHONPATH
	fi
}
