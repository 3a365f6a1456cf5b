#!/bin/sh
# A writer of ours killed in the middle of an append leaves no torn block
# that a Python writer would build on (issue 66).  The reference, opening
# a store left unclean, only counts its keys again: it neither cuts a
# torn end nor mends it, and appends after it, so a torn block whose
# lengths run past the end swallows every key appended later from the
# reference's own items() (and from a scan of ours: a mount stopped
# following there).  blt load is killed just before each of its writes in
# turn (the preloaded tests/crashpoint.so), and so is a blt put of a
# value too big for the write buffer (its block reserved, the value
# written after); after each kill the reference opens the store for
# writing, puts keys and closes; then the reference must iterate every key
# it can get, blt check must pass, and a later write of ours must go
# through.
. "${top_srcdir:-$(dirname "$0")/..}/tests/blt-lib.sh"
need_reference

CRASHPOINT=$top_builddir/tests/crashpoint.so
[ -f "$CRASHPOINT" ] || { echo "not built: $CRASHPOINT" >&2; exit 99; }
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0"

s0=$tmp/s0.blt
"$PY" - "$s0" <<'PY' || fail "the reference could not make the store"
import booklet, sys
with booklet.open(sys.argv[1], 'n', key_serializer='str',
                  value_serializer='bytes') as db:
    for j in range(10):
        db[f'old{j}'] = b'o' * 100
PY
# 40 values of 3,000 bytes
python3 - "$tmp/items" <<'PY'
import json, sys
with open(sys.argv[1], 'w') as f:
    for j in range(40):
        f.write(json.dumps({'key': f'new{j}',
                            'value_hex': (bytes([65 + j % 26]) * 3000).hex()}) + '\n')
PY

# killed N CMD...: run CMD, killed just before its write N (0: never;
# its count of writes goes to $tmp/count)
killed()
{
	at=$1
	shift
	BLT_KILL_AT=$at BLT_COUNT_TO=$tmp/count LD_PRELOAD=$CRASHPOINT \
	    "$@" >/dev/null 2>&1
}

# each_kill WHAT CMD...: CMD on a copy of the store, killed before each
# of its writes in turn; after each kill the reference puts keys, then
# iterates every key it can get, whole, and the store passes blt check
# and takes a write of ours
each_kill()
{
	what=$1
	shift
	cp "$s0" "$tmp/s.blt"
	killed 0 "$@" || fail "$what failed without a kill"
	n=$(cat "$tmp/count")
	[ "$n" -gt 2 ] || fail "$what made only $n writes"
	k=1
	while [ "$k" -le "$n" ]; do
		cp "$s0" "$tmp/s.blt"
		! killed "$k" "$@" || fail "$what was not killed at write $k"
		"$PY" - "$tmp/s.blt" <<'PY' || fail "$what killed at write $k: the reference (above)"
import booklet, sys
with booklet.open(sys.argv[1], 'w') as db:
    for j in range(5):
        db[f'late{j}'] = b'L' * 200
with booklet.open(sys.argv[1], 'r') as db:
    items = dict(db.items())
    names = [f'old{j}' for j in range(10)] + \
        [f'new{j}' for j in range(40)] + [f'late{j}' for j in range(5)]
    got = {k for k in names + ['big'] if db.get(k) is not None}
missing = got - set(items)
assert not missing, f'items() misses {sorted(missing)[:5]} of {len(got)}'
for k, v in items.items():
    want = {'o': b'o' * 100, 'l': b'L' * 200, 'b': b'B' * 5000000}.get(k[0])
    if k.startswith('new'):
        want = bytes([65 + int(k[3:]) % 26]) * 3000
    assert v == want, (k, len(v))
PY
		"$BLT" check "$tmp/s.blt" >"$tmp/out" 2>&1 ||
			fail "$what killed at write $k: blt check: $(cat "$tmp/out")"
		echo x | "$BLT" put "$tmp/s.blt" ours >/dev/null 2>"$tmp/err" ||
			fail "$what killed at write $k: a write of ours: $(cat "$tmp/err")"
		k=$((k + 1))
	done
	echo "blt-crash-append: $what, $n kill points"
}

# one append of the write buffer, of many pages
each_kill "blt load" "$BLT" load "$tmp/s.blt" "$tmp/items"
# a value past the write buffer: a block reserved, its value written after
head -c 5000000 /dev/zero | tr '\0' B >"$tmp/big"
each_kill "blt put of 5 MB" "$BLT" put "$tmp/s.blt" big "$tmp/big"
