#!/bin/sh
# Python's everyday types as data (issue 38), against the reference Python
# booklet: random records mixing datetimes, dates, times, timedeltas,
# timezones, Decimals, UUIDs, complex numbers, OrderedDicts, Counters,
# defaultdicts, deques and numpy arrays and scalars with builtins, written
# by the reference with pickle and pickle_zstd (and, for pickle, the same
# records pickled with protocols 2 to 5 and stored with blt put), must
#  - show in blt dump --decode with nothing undecodable, each as the
#    reference reads it (tests/pytypes.py reads the tagged forms);
#  - load back with blt load --encode, and copy through two decode mounts
#    with cp -r, into stores the reference reads equal type for type;
#  - reach a Python map worker (bltfs_worker.py) as the real types, whose
#    changes the reference reads back.
# tests/values-types.py is the Python side.
. "${top_srcdir:-$(dirname "$0")/..}/tests/lib.sh"

need_reference
"$PY" -c 'import numpy, zstandard' 2>/dev/null || {
	echo "the reference needs python3-numpy and -zstandard" >&2
	exit 99
}
WPY=/usr/bin/python3
[ -x "$WPY" ] || WPY=$(command -v python3)
PYTHONPATH=$top_srcdir/src/map${PYTHONPATH:+:$PYTHONPATH}
PYTHONDONTWRITEBYTECODE=1
export PYTHONPATH PYTHONDONTWRITEBYTECODE
py()
{
	"$PY" "$top_srcdir/tests/values-types.py" "$@"
}

cat >"$tmp/worker.py" <<'EOF'
import collections, datetime, decimal, uuid
import numpy
from bltfs_worker import serve

def f(key, value):
    assert type(value["id"]) is uuid.UUID, value["id"]
    assert value["when"].utcoffset() is not None, value["when"]
    assert type(value["vec"]) is numpy.ndarray, value["vec"]
    value["when"] += datetime.timedelta(days=1)
    value["price"] += decimal.Decimal("0.01")
    value["vec"] = value["vec"] * 2
    value["seen"] = collections.OrderedDict([("by", "worker"), ("at", value["when"])])
    return value

serve(f)
EOF

mkdir "$tmp/pk" "$tmp/a" "$tmp/b"
py pickles "$tmp/pk"
for ser in pickle pickle_zstd; do
	s=$tmp/$ser.blt
	py write "$ser" "$s"
	if [ "$ser" = pickle ]; then
		for f in "$tmp"/pk/*; do
			"$BLT" put "$s" "${f##*/}" <"$f"
		done
	fi

	"$BLT" dump --decode "$s" >"$tmp/dump" 2>"$tmp/err" ||
		fail "$ser: blt dump --decode: $(cat "$tmp/err")"
	! grep -q undecodable "$tmp/dump" ||
		fail "$ser: undecodable: $(grep -m1 undecodable "$tmp/dump")"
	py dump "$s" "$tmp/dump" || fail "$ser: blt dump --decode"
	grep -q '"\$datetime": "2024-' "$tmp/dump" || fail "$ser: no ISO datetime"

	"$PY" -c 'import sys, booklet; booklet.open(sys.argv[1], "n",
	    key_serializer="str", value_serializer=sys.argv[2]).close()' \
	    "$tmp/copy.blt" "$ser"
	"$BLT" load --encode "$tmp/copy.blt" <"$tmp/dump" 2>"$tmp/err" ||
		fail "$ser: blt load --encode: $(cat "$tmp/err")"
	py same "$s" "$tmp/copy.blt" || fail "$ser: blt load --encode"

	# cp -r from one decode mount into another, of a new store
	py empty "$ser" "$tmp/cp.blt"
	bltfs_mount "$s" "$tmp/a" -o decode,ro
	bltfs_mount "$tmp/cp.blt" "$tmp/b" -o decode
	grep -q '"\$decimal": "9.09"' "$tmp/a/r09" || fail "$ser: cat r09"
	# (* leaves out the control directory, .bltfs)
	(cd "$tmp/a" && cp -r -- * "$tmp/b/") 2>"$tmp/err" ||
		fail "$ser: cp -r: $(cat "$tmp/err")"
	diff -r -x .bltfs "$tmp/a" "$tmp/b" || fail "$ser: diff -r after cp -r"
	bltfs_umount "$tmp/b"
	bltfs_umount "$tmp/a"
	# cp's mkdir of d left no marker: d is not empty (doc/keys.md)
	run_status "$BLT" get "$tmp/cp.blt" d/
	[ "$got" = 1 ] || fail "$ser: a marker of a directory that is not empty"
	py same "$s" "$tmp/cp.blt" || fail "$ser: cp -r through decode mounts"

	# the real types in a Python worker, and what it returns
	"$BLT" map "$tmp/cp.blt" --worker "$WPY $tmp/worker.py" --workers 2 \
	    >"$tmp/out" 2>"$tmp/err" || fail "$ser: map: $(cat "$tmp/out")"
	grep -q '"errors": 0' "$tmp/out" || fail "$ser: map: $(cat "$tmp/out")"
	py mapped "$s" "$tmp/cp.blt" || fail "$ser: map --worker"
	rm -f "$tmp/copy.blt" "$tmp/cp.blt"
done
